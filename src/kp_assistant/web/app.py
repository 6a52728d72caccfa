"""The web app: the chat at "/", the staff area at /personal, the route for cited documents,
and the uvicorn server that runs them. What makes it safe is described in docs/security.md.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette._utils import get_route_path

from kp_assistant.assistant import Assistant
from kp_assistant.settings import Settings
from kp_assistant.web.chat import build_ui
from kp_assistant.web.markup import DOCUMENT_ROUTE
from kp_assistant.web.staff.api import add_api_routes
from kp_assistant.web.staff.auth import StaffAuth
from kp_assistant.web.staff.login import STAFF_PATH, StaffGuard, add_login_routes, user_of
from kp_assistant.web.staff.page import build_staff_ui
from kp_assistant.web.staff.service import MB, StaffService

PUBLIC_MAX_FILE_BYTES = 1024  # the chat takes no files; gradio refuses anything larger

# (media type, disposition) by suffix. HTML is shown as source text so that scripts in a
# document never run on this site's origin; formats browsers cannot show are downloaded.
_CONTENT_TYPES: dict[str, tuple[str, str]] = {
    ".pdf": ("application/pdf", "inline"),
    ".txt": ("text/plain; charset=utf-8", "inline"),
    ".md": ("text/plain; charset=utf-8", "inline"),
    ".html": ("text/plain; charset=utf-8", "inline"),
    ".htm": ("text/plain; charset=utf-8", "inline"),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "attachment",
    ),
}

def document_response(assistant: Assistant, source: str) -> FileResponse:
    """An indexed corpus file, typed for the browser; 404 for anything else."""
    path: Path | None = assistant.resolve_source(source)
    if path is None:
        raise HTTPException(status_code=404, detail="Dokumentet finns inte.")
    media_type, disposition = _CONTENT_TYPES.get(
        path.suffix.lower(), ("application/octet-stream", "attachment")
    )
    headers = {"X-Content-Type-Options": "nosniff"}
    if media_type.startswith("text/"):
        headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return FileResponse(
        path,
        media_type=media_type,
        filename=path.name,
        headers=headers,
        content_disposition_type=disposition,
    )


def create_app(assistant: Assistant, settings: Settings | None = None) -> FastAPI:
    """FastAPI app: the document route, the staff area at /personal, the chat at "/"."""
    settings = settings or assistant.settings
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # no origin may read this site's answers with the visitor's cookies: an empty CORS
    # policy, which also keeps gradio from adding its own permissive one to its mounts
    app.add_middleware(CORSMiddleware, allow_origins=[], allow_credentials=False)
    app.add_middleware(NoPublicUploads)

    @app.get(DOCUMENT_ROUTE + "/{source:path}", include_in_schema=False)
    def document(source: str) -> FileResponse:
        return document_response(assistant, source)

    # mounted first, as "/" would take its paths
    staff = mount_staff(app, assistant, settings)
    blocks = build_ui(assistant, staff_link=staff.enabled)
    mounted: FastAPI = gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        run_history=False,
        max_file_size=PUBLIC_MAX_FILE_BYTES,
        allowed_paths=[],
        blocked_paths=blocked_paths(assistant, settings),
    )
    mark_launched(blocks)
    return mounted


def blocked_paths(assistant: Assistant, settings: Settings) -> list[str]:
    """What gradio must never hand out, whatever an event returns: the index (sessions,
    vectors) and the staff accounts."""
    paths = [str(Path(settings.index_dir).resolve())]
    if settings.staff_file:
        paths.append(str(Path(settings.staff_file).resolve()))
    return paths


def mark_launched(blocks: gr.Blocks) -> None:
    """Set what `Blocks.launch()` would set. gradio checks that a file path in an event's
    input was uploaded, and that one in its output may be served, only for launched Blocks;
    `mount_gradio_app` never marks them, which left every path open (docs/security.md)."""
    blocks.has_launched = True


class NoPublicUploads:
    """ASGI middleware: the public chat takes no files, so gradio's upload route answers 404
    outside the staff area (whose own upload route sits behind the staff guard)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _is_public_upload(get_route_path(scope)):
            response = JSONResponse({"detail": "Not Found"}, status_code=404)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_public_upload(path: str) -> bool:
    path = "/" + path.lstrip("/")
    return not path.startswith("/personal") and (
        path.rstrip("/").endswith("/upload") or "/upload_progress" in path
    )


def server_config(app: Any, settings: Settings) -> Any:
    """uvicorn's configuration for the app. Proxy headers (X-Forwarded-For, -Proto) are
    trusted only when FORWARDED_ALLOW_IPS names the proxies: otherwise any local process
    could claim another address and escape the login limiter."""
    import os

    import uvicorn

    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "").strip()
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                          proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None)


def launch(assistant: Assistant, settings: Settings) -> None:
    """Serve the chat on settings.host:settings.port until interrupted."""

    app = create_app(assistant, settings)
    server = StoppingServer(server_config(app, settings), assistant)
    print(
        f"Kunskapsassistenten startar på http://{settings.host}:{settings.port}/ "
        "(avsluta med Ctrl+C)",
        flush=True,
    )
    server.run()


class StoppingServer:
    """uvicorn's server, which on SIGTERM or Ctrl+C also stops a re-index under way at its
    next file (the index stays consistent), instead of waiting for it to finish."""

    def __new__(cls, config: Any, assistant: Assistant) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                assistant.stop_ingest()
                super().handle_exit(sig, frame)

        return Server(config)


def mount_staff(app: FastAPI, assistant: Assistant, settings: Settings) -> StaffAuth:
    """Login routes, guard, JSON routes and the page; call before the chat is mounted at "/"."""
    auth = StaffAuth.from_settings(settings)
    app.state.staff_auth = auth
    add_login_routes(app, auth)
    app.add_middleware(StaffGuard, auth=auth)

    @app.get(STAFF_PATH, include_in_schema=False)
    def staff_root() -> RedirectResponse:
        return RedirectResponse(STAFF_PATH + "/", status_code=307)

    if not auth.enabled:
        return auth  # the guard sends everyone to the login page, which says why
    service = StaffService(assistant, max_bytes=int(settings.upload_max_mb * MB))
    add_api_routes(app, service, auth)
    blocks = build_staff_ui(service)
    gr.mount_gradio_app(
        app,
        blocks,
        path=STAFF_PATH,
        server_name=settings.host,
        server_port=settings.port,
        run_history=False,
        footer_links=[],
        # a second check inside gradio, and the user's name in gr.Request.username
        auth_dependency=functools.partial(user_of, auth),
        max_file_size=service.max_bytes,
        allowed_paths=[],
        blocked_paths=blocked_paths(assistant, settings),
    )
    mark_launched(blocks)
    return auth
