"""Start-up shortcuts: gradio works without its stub rewriting; the warm-up never fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import hashing
from kp_assistant.assistant import Assistant
from kp_assistant.settings import PACKAGED_MINILM_DENSE_WEIGHT, Settings
from kp_assistant.web.startup import warm_up

CHILD = """
from kp_assistant.web.startup import skip_gradio_stub_rewrite
skip_gradio_stub_rewrite()
import gradio as gr
import gradio.component_meta as meta
assert meta.create_or_modify_pyi.__module__ == "kp_assistant.web.startup", meta.create_or_modify_pyi
with gr.Blocks() as demo:
    box = gr.Textbox()
    out = gr.Markdown()
    box.submit(lambda s: s.upper(), box, out)
config = demo.get_config_file()
assert [c["type"] for c in config["components"]].count("textbox") == 1
print("ok")
"""


def test_gradio_builds_pages_without_rewriting_its_stubs() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_warm_up_answers_in_the_background(tmp_path: Path, corpus: Path) -> None:
    settings = hashing(tmp_path, corpus)
    assistant = Assistant.from_settings(settings)
    assistant.ingest()
    fresh = Assistant.from_settings(settings)
    warm_up(fresh).join(timeout=120)
    assert isinstance(fresh._embedder, type(assistant.embedder))  # loaded by the warm-up
    assert fresh.ask("Vilka kommuner arbetar med dricksvatten?").citations


def test_warm_up_on_an_empty_index_is_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    thread = warm_up(Assistant.from_settings(hashing(tmp_path)))
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_packaged_minilm_gets_its_measured_dense_weight() -> None:
    assert Settings().dense_weight == 1.0  # multilingual-e5-small: 1:1 won
    minilm = Settings(embedding_backend="sentence-transformers")
    assert minilm.dense_weight == PACKAGED_MINILM_DENSE_WEIGHT
    assert Settings(embedding_backend="sentence-transformers", dense_weight=1).dense_weight == 1
    other = Settings(embedding_backend="sentence-transformers", embedding_model="/models/e5")
    assert other.dense_weight == 1.0


def test_a_dense_weight_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KP_DENSE_WEIGHT", "0.7")
    assert Settings(embedding_backend="sentence-transformers").dense_weight == 0.7
