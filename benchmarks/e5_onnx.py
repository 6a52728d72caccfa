"""The converted multilingual-e5-small on ONNX Runtime and OpenVINO, for the speed benchmarks.

Not a backend of the app: these engines were measured against torch (docs/benchmarks.md,
issue 14) and not adopted. sentence-transformers' own `backend="onnx"` / `"openvino"` need
optimum-onnx / optimum-intel, which would downgrade transformers (and, for optimum-intel,
pull another torch build), so the model is exported here with torch's exporter instead.

`export` writes the converted folder's encoder, mean pooling and normalisation as one ONNX
graph (`input_ids`, `attention_mask` -> `embedding`); `quantize` makes its int8 copy with
ONNX Runtime's dynamic quantisation, weights per output channel. Both files are cached beside
the converted folder with the checksum of the weights they came from, and made again when
that or the file itself changes. Needs the `onnx` package (exporter and quantiser),
`onnxruntime` (installed with chromadb) and, for OpenVINO, `openvino`.

    pip install onnx openvino
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kp_assistant.embedding import Embedder, available_cores, strided
from kp_assistant.embedding.e5_convert import (
    PASSAGE_PROMPT,
    QUERY_PROMPT,
    default_cache_dir,
    ensure_model,
    file_sha256,
)

Run = Callable[[np.ndarray, np.ndarray], np.ndarray]
ENGINES = ("ort", "ort-int8", "openvino", "openvino-bf16")


def _cached(target: Path, source: Path, make: Callable[[Path], None]) -> Path:
    """`target`, made from `source` by `make` unless its stamp shows both are unchanged."""
    stamp = target.with_name(target.name + ".json")
    want = file_sha256(source)
    try:
        seen = json.loads(stamp.read_text())
        if seen["source"] == want and seen["file"] == file_sha256(target):
            return target
    except (OSError, ValueError, KeyError):
        pass
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    make(tmp)
    os.replace(tmp, target)
    stamp.write_text(json.dumps({"source": want, "file": file_sha256(target)}) + "\n")
    return target


def export(folder: Path) -> Path:
    """The ONNX graph of the converted model in `folder`."""

    def make(out: Path) -> None:
        import torch
        from transformers import AutoModel

        model = AutoModel.from_pretrained(str(folder), local_files_only=True,
                                          attn_implementation="eager").eval()

        class Encoder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                tokens = self.model(input_ids=input_ids,
                                    attention_mask=attention_mask).last_hidden_state
                weight = attention_mask.unsqueeze(-1).to(tokens.dtype)
                mean = (tokens * weight).sum(1) / weight.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(mean, dim=-1)

        ids = torch.tensor([[0, 100, 200, 300, 2], [0, 5, 6, 2, 1]])
        mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
        axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"}}
        torch.onnx.export(Encoder().eval(), (ids, mask), str(out), dynamo=False,
                          input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], dynamic_axes=axes, opset_version=17)

    return _cached(folder.parent / f"{folder.name}.onnx", folder / "model.safetensors", make)


def quantize(fp32: Path) -> Path:
    """The int8 copy: linear weights per output channel, activations per call (dynamic)."""

    def make(out: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(out), per_channel=True, weight_type=QuantType.QInt8)

    return _cached(fp32.with_name(fp32.stem + "-int8.onnx"), fp32, make)


def ort_session(path: Path) -> Run:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def openvino_model(path: Path, precision: str, threads: int) -> Run:
    import openvino

    compiled = openvino.Core().compile_model(str(path), "CPU", {
        "INFERENCE_PRECISION_HINT": precision, "NUM_STREAMS": threads,
        "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "THROUGHPUT"})
    local = threading.local()  # one infer request per thread

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if not hasattr(local, "request"):
            local.request = compiled.create_infer_request()
        out: np.ndarray = local.request.infer({"input_ids": ids, "attention_mask": mask})[0]
        return out.copy()

    return run


class E5OnnxEmbedder(Embedder):
    """A batch split over one thread per core, each running the engine on one thread."""

    query_prefix = QUERY_PROMPT
    passage_prefix = PASSAGE_PROMPT

    def __init__(self, engine: str, *, batch_size: int = 32, threads: int = 0,
                 cache_dir: Path | None = None) -> None:
        from tokenizers import Tokenizer

        folder = ensure_model(cache_dir or default_cache_dir())
        self.threads = threads or available_cores()
        graph = export(folder)
        match engine:
            case "ort":
                self._run = ort_session(graph)
            case "ort-int8":
                self._run = ort_session(quantize(graph))
            case "openvino" | "openvino-bf16":
                self._run = openvino_model(graph, "bf16" if engine.endswith("bf16") else "f32",
                                           self.threads)
            case _:
                raise ValueError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
        self.name = f"e5-{engine}:multilingual-e5-small"
        self.batch_size = batch_size
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(json.loads(
            (folder / "sentence_bert_config.json").read_text())["max_seq_length"]))
        config = json.loads((folder / "tokenizer_config.json").read_text())
        pad = config["pad_token"]
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id(pad), pad_token=pad)
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return strided(self._pool, self._forward, list(texts), self.threads)

    def _forward(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        return np.asarray(self._run(ids, mask), dtype=np.float32)
