"""User-facing errors. The CLI prints them as one line; the chat shows them as a reply."""

from __future__ import annotations


class KPError(Exception):
    """Base class for errors that are shown to the user as they are."""


class ConfigError(KPError):
    """A setting has a value the assistant cannot use."""


class Refused(Exception):
    """Raised by the format readers with the reason the user will see."""


def short_detail(error: BaseException) -> str:
    """An exception as a short one-line reason."""
    detail = " ".join(str(error).split()) or type(error).__name__
    return detail if len(detail) <= 80 else detail[:77] + "..."


class UnreadableDocument(KPError):
    """A file could not be turned into text; the message says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexProblem(KPError):
    """Base class for problems with the on-disk index."""


class EmptyIndex(IndexProblem):
    def __init__(self, index_dir: str) -> None:
        super().__init__(
            f"Indexet i {index_dir} är tomt. Kör `kp-assistant ingest` först "
            f"(the index in {index_dir} is empty; run `kp-assistant ingest` first)."
        )


class ModelMismatch(IndexProblem):
    def __init__(self, built_with: str, configured: str) -> None:
        super().__init__(
            f"The index was built with embedding model '{built_with}' but '{configured}' is "
            "configured; the two give different vectors. Rebuild it with `kp-assistant ingest "
            "--rebuild`, or set KP_EMBEDDING_BACKEND (and KP_EMBEDDING_MODEL or KP_E5_QUANTIZE) "
            "back to the model the index was built with."
        )
        self.built_with = built_with
        self.configured = configured


class CorruptIndex(IndexProblem):
    def __init__(self, index_dir: str, detail: str) -> None:
        super().__init__(
            f"The index in {index_dir} is damaged ({detail}). "
            "Rebuild it with `kp-assistant ingest --rebuild`."
        )


class BackendMissing(KPError):
    def __init__(self, backend: str, package: str) -> None:
        super().__init__(
            f"The embedding backend '{backend}' needs the package '{package}': "
            f"pip install {package}"
        )


class LLMBackendMissing(KPError):
    def __init__(self, provider: str, package: str) -> None:
        super().__init__(
            f"KP_LLM_PROVIDER={provider} needs the package '{package}': "
            "pip install 'kp-assistant[llm]'"
        )


class StoreUnavailable(IndexProblem):
    """The Chroma server does not answer; the next question tries again."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(
            f"Vektordatabasen (Chroma-servern på {where}) svarar inte just nu; försök igen om "
            f"en stund (the Chroma server at {where} is not reachable: {detail}). "
            "Check that `chroma run` is running."
        )
        self.where = where


class VectorStoreFailed(IndexProblem):
    """The on-disk vector store (Chroma's folder in the index) could not be opened or read."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(
            f"Vektordatabasen går inte att använda just nu (the vector store in {where} "
            f"failed: {detail}). If this persists, the index is damaged: rebuild it with "
            "`kp-assistant ingest --rebuild`."
        )
        self.where = where


class IngestStopped(KPError):
    """An ingest run was asked to stop (SIGTERM, server shutdown) and did, between files."""

    def __init__(self) -> None:
        super().__init__(
            "Inläsningen avbröts; indexet är oskadat och nästa körning fortsätter "
            "(ingest stopped; the index is consistent, re-run to continue)."
        )
