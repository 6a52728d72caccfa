"""Start the chat: `python app/app.py`, as hosting platforms do.

Settings come from KP_* variables (see kp_assistant.settings). Nothing is loaded at import time:
`demo` (the Blocks, for tools that look for it) and `build_app()` (the full ASGI app, e.g.
`uvicorn --app-dir app --factory app:build_app`) are built on first use.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import kp_assistant  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

if TYPE_CHECKING:
    import gradio as gr
    from fastapi import FastAPI

    from kp_assistant.assistant import Assistant
    from kp_assistant.settings import Settings


def app_settings() -> Settings:
    from kp_assistant.settings import load_settings

    # Hosting platforms announce the address as GRADIO_SERVER_NAME/PORT; KP_* wins when set.
    return load_settings(
        host=None if "KP_HOST" in os.environ else os.environ.get("GRADIO_SERVER_NAME"),
        port=None if "KP_PORT" in os.environ else os.environ.get("GRADIO_SERVER_PORT"),
    )


def make_assistant(settings: Settings) -> Assistant:
    from kp_assistant.assistant import Assistant

    return Assistant.from_settings(settings)


def build_demo() -> gr.Blocks:
    """The chat page alone, without the /dokument route (its source links will not open)."""
    from kp_assistant.web.chat import build_ui

    return build_ui(make_assistant(app_settings()))


def build_app() -> FastAPI:
    """The chat mounted with the /dokument route, ready for any ASGI server."""
    from kp_assistant.web.app import create_app

    settings = app_settings()
    return create_app(make_assistant(settings), settings)


def __getattr__(name: str) -> Any:
    if name == "demo":
        value = globals()["demo"] = build_demo()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> int:
    from kp_assistant.errors import KPError
    from kp_assistant.web.startup import skip_gradio_stub_rewrite, warm_up

    skip_gradio_stub_rewrite()
    from kp_assistant.web.app import launch

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = app_settings()
    except ValueError as exc:  # pydantic names the bad KP_* variable
        print(f"Ogiltig inställning: {exc}", file=sys.stderr)
        return 1
    try:
        assistant = make_assistant(settings)
        if assistant.store.is_empty():
            print(
                f"Indexet i {settings.index_dir} är tomt; kör `kp-assistant ingest` först.",
                file=sys.stderr,
            )
        warm_up(assistant)
        launch(assistant, settings)
    except KPError as exc:
        print(f"Fel: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
