"""The staff area's JSON routes under /personal/api, for scripts (`curl -b kp_personal=…`).

They sit behind ui_login.StaffGuard like the page: a valid session, and for every change the
site's own origin or the session's X-CSRF-Token.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from kp_assistant.errors import KPError
from kp_assistant.models import IngestSummary
from kp_assistant.web.staff.auth import StaffAuth
from kp_assistant.web.staff.login import STAFF_PATH
from kp_assistant.web.staff.service import FAILURE, MB, StaffError, StaffService, summary_text

log = logging.getLogger(__name__)

API_PATH = STAFF_PATH + "/api"


def summary_json(summary: IngestSummary) -> dict[str, Any]:
    return {**vars(summary), "text": summary_text(summary)}


def _error(exc: Exception) -> JSONResponse:
    if isinstance(exc, StaffError):
        return JSONResponse({"detail": str(exc)}, exc.status)
    if isinstance(exc, KPError):
        return JSONResponse({"detail": str(exc)}, 409)
    log.error("staff request failed", exc_info=exc)
    return JSONResponse({"detail": FAILURE}, 500)


def add_api_routes(app: FastAPI, service: StaffService, auth: StaffAuth) -> None:
    headers = {"cache-control": "no-store"}

    @app.get(API_PATH + "/dokument", include_in_schema=False)
    def list_documents(request: Request) -> JSONResponse:
        try:
            rows = [r.to_json() for r in service.documents()]
        except Exception as exc:
            return _error(exc)
        # scripts send this back as X-CSRF-Token with every change (docs/security.md)
        token = auth.csrf_token(request.state.staff_session)
        return JSONResponse({"mapp": str(service.root), "dokument": rows, "csrf": token},
                            headers=headers)

    @app.post(API_PATH + "/dokument", include_in_schema=False)
    async def upload_document(
        request: Request, namn: str = "", ersatt: bool = False
    ) -> JSONResponse:
        """The request body is the file; `namn` its name. Saved, then the corpus is synced."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > service.max_bytes:
            return _error(StaffError(f"Filen är större än gränsen på {service.max_mb}.", 413))
        spool = tempfile.SpooledTemporaryFile(max_size=MB)  # noqa: SIM115 - closed below
        try:
            size = 0
            async for part in request.stream():
                size += len(part)
                if size > service.max_bytes:
                    return _error(
                        StaffError(f"Filen är större än gränsen på {service.max_mb}.", 413)
                    )
                spool.write(part)
            spool.seek(0)

            def save_and_sync() -> dict[str, Any]:
                with service.changing():
                    result = service.save_upload(namn, spool, replace=ersatt)  # type: ignore[arg-type]
                    return {
                        "uppladdning": result.to_json(),
                        "inlasning": summary_json(service.sync()),
                    }

            body = await run_in_threadpool(save_and_sync)
        except Exception as exc:
            return _error(exc)
        finally:
            spool.close()
        return JSONResponse(body, headers=headers)

    @app.delete(API_PATH + "/dokument", include_in_schema=False)
    def delete_document(namn: str) -> JSONResponse:
        try:
            with service.changing():
                service.delete(namn)
                summary = service.sync()
        except Exception as exc:
            return _error(exc)
        return JSONResponse(
            {"borttaget": namn, "inlasning": summary_json(summary)}, headers=headers
        )

    @app.post(API_PATH + "/indexera", include_in_schema=False)
    def reindex() -> JSONResponse:
        try:
            summary = service.sync()
        except Exception as exc:
            return _error(exc)
        return JSONResponse({"inlasning": summary_json(summary)}, headers=headers)


