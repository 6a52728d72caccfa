"""Shorter time from `serve` to the first answer.

Two measured costs (docs/benchmarks.md, start-up): gradio re-generates its own type-stub
(.pyi) files from source every time it is imported, about a quarter of the start-up CPU
time; and the first question used to pay for loading the model, Chroma and the answer
modules. The first is skipped, the second is done in a background thread while the web
app starts.
"""

from __future__ import annotations

import logging
import sys
import threading
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kp_assistant.assistant import Assistant

log = logging.getLogger(__name__)

_STUB_MODULE = "gradio.component_meta"
WARM_UP_QUESTION = "Vad är kommunala partnerskap?"


class _NoStubRewrite:
    """Import hook: once gradio's component metaclass module is loaded, its stub writer is
    replaced by a no-op. The stubs only serve editors; gradio's behaviour is unchanged. With
    a gradio that lacks the function the hook does nothing."""

    @classmethod
    def find_spec(cls, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name != _STUB_MODULE:
            return None
        spec = PathFinder.find_spec(name, path)
        loader = spec.loader if spec else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            if callable(getattr(module, "create_or_modify_pyi", None)):
                setattr(module, "create_or_modify_pyi", _skip)  # noqa: B010

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _skip(*_args: Any, **_kwargs: Any) -> None:
    return None


def skip_gradio_stub_rewrite() -> None:
    """Call before gradio is first imported; later calls and an imported gradio are fine."""
    if _STUB_MODULE not in sys.modules and _NoStubRewrite not in sys.meta_path:
        sys.meta_path.insert(0, _NoStubRewrite)


def warm_up(assistant: Assistant) -> threading.Thread:
    """Answer one question in the background, so the first user does not wait for the
    model, the vector store and the answer modules to load; then compute the sentence vectors
    the index does not have yet, so that new questions do not wait for them either."""

    def run() -> None:
        try:
            assistant.ask(WARM_UP_QUESTION, llm=False)
        except Exception as exc:  # an empty or damaged index is reported to the user later
            log.debug("warm-up question failed: %s", exc)
            return
        assistant.warm_sentences_later()

    thread = threading.Thread(target=run, name="kp-warm-up", daemon=True)
    thread.start()
    return thread
