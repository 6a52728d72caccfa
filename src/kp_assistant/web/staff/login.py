"""The door of the staff area: a guard in front of STAFF_PATH and the login and logout pages.

Every request under STAFF_PATH passes StaffGuard, which lets through the login and logout pages
and otherwise only requests with a valid session cookie, so neither the staff page nor its
Gradio API nor its JSON routes answer an anonymous client.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette._utils import get_route_path
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from kp_assistant.web.staff.auth import ACCOUNT_ATTEMPTS, ATTEMPTS, MAX_SESSION_HOURS, StaffAuth

log = logging.getLogger(__name__)

STAFF_PATH = "/personal"
LOGIN_PATH = STAFF_PATH + "/logga-in"
LOGOUT_PATH = STAFF_PATH + "/logga-ut"
COOKIE = "kp_personal"
# the server decides when a session ends; the cookie need not outlive the longest one
COOKIE_MAX_AGE = MAX_SESSION_HOURS * 3600
_MAX_FORM_BYTES = 8192


def user_of(auth: StaffAuth, request: Request) -> str | None:
    """The logged-in user of a request, or None (gradio's auth_dependency)."""
    session = auth.session(request.cookies.get(COOKIE))
    return session.user if session else None


def _cookie_from(scope: Scope) -> str | None:
    return HTTPConnection(scope).cookies.get(COOKIE)  # starlette's lenient cookie parser


def cookie_header(value: str, max_age: int, *, secure: bool) -> str:
    flags = f"Path={STAFF_PATH}; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    return f"{COOKIE}={value}; {flags}{'; Secure' if secure else ''}"


_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "x-csrf-token"


def same_origin(headers: dict[str, str]) -> bool | None:
    """Whether a browser sent the request from this site's own origin; None when nothing
    says (no Sec-Fetch-Site, no Origin: not a browser, e.g. curl)."""
    site, origin = headers.get("sec-fetch-site"), headers.get("origin")
    if site is None and origin is None:
        return None
    if site is not None and site != "same-origin":
        return False  # same-site is not enough: another port or subdomain is another site
    if origin is not None:
        host = headers.get("host", "")
        return origin != "null" and urlsplit(origin).netloc.lower() == host.lower()
    return True


class StaffGuard:
    """ASGI middleware: under STAFF_PATH only the login and logout pages are open, and every
    change must come from this site's own pages or carry the session's CSRF token."""

    def __init__(self, app: ASGIApp, auth: StaffAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = get_route_path(scope)
        if path != STAFF_PATH and not path.startswith(STAFF_PATH + "/"):
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        method = scope.get("method", "GET")
        unsafe = method in _UNSAFE or scope["type"] == "websocket"
        browser = same_origin(headers)
        if unsafe and browser is False:
            await _plain(scope, send, 403, "Förfrågan kom från en annan webbplats.")
            return
        extra = [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
        if path in (LOGIN_PATH, LOGOUT_PATH):
            await self.app(scope, receive, _with_headers(send, extra))
            return
        session = self.auth.session(_cookie_from(scope))
        if session is None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401})
            elif method == "GET" and "text/html" in headers.get("accept", ""):
                await _redirect(scope, send, LOGIN_PATH)
            else:
                await _plain(scope, send, 401, "Inloggning krävs.")
            return
        if unsafe and browser is None and not self.auth.check_csrf(
            session, headers.get(CSRF_HEADER)
        ):
            await _plain(scope, send, 403, "CSRF-token saknas eller är fel (X-CSRF-Token).")
            return
        scope.setdefault("state", {})["staff_session"] = session
        await self.app(scope, receive, _with_headers(send, extra))


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


async def _plain(scope: Scope, send: Send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4403})
        return
    body = json.dumps({"detail": text}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect(scope: Scope, send: Send, location: str) -> None:
    root = scope.get("root_path", "").rstrip("/")
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", (root + location).encode()),
                (b"content-length", b"0"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


# -- the login page -----------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="sv"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Personal – logga in</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 26rem; margin: 4rem auto; padding: 0 1rem;
       color: #1f2937; }}
label {{ display: block; margin-top: 1rem; }}
input {{ width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }}
button {{ margin-top: 1.2rem; padding: .55rem 1.2rem; font-size: 1rem; cursor: pointer; }}
.fel {{ color: #b91c1c; }}
</style></head><body>
<h1>Personal</h1>
{body}
<p><a href="/">Till chatten</a></p>
</body></html>"""

_FORM = """<p>Logga in för att ladda upp, ta bort och läsa in dokument.</p>
{message}
<form method="post" action="{action}">
<label>Användarnamn <input name="anvandare" autocomplete="username" required autofocus></label>
<label>Lösenord <input name="losenord" type="password" autocomplete="current-password"
 required></label>
<button type="submit">Logga in</button>
</form>"""

DISABLED = (
    "Personalinloggningen är inte aktiverad: inga personalkonton är inlagda. "
    "Den som driftar tjänsten lägger in konton med KP_STAFF_USERS eller KP_STAFF_FILE."
)
WRONG = "Fel användarnamn eller lösenord."


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(body=body),
        status_code=status,
        headers={
            "cache-control": "no-store",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'",
        },
    )


def _form(message: str = "", status: int = 200) -> HTMLResponse:
    shown = f'<p class="fel" role="alert">{html.escape(message)}</p>' if message else ""
    return _page(_FORM.format(message=shown, action=LOGIN_PATH), status)


async def _read_form(request: Request) -> dict[str, str]:
    body = b""
    async for part in request.stream():
        body += part
        if len(body) > _MAX_FORM_BYTES:
            break
    fields = parse_qs(body[:_MAX_FORM_BYTES].decode("utf-8", "replace"))
    return {k: v[0] for k, v in fields.items()}


def add_login_routes(app: FastAPI, auth: StaffAuth) -> None:
    """GET/POST the login page and POST the logout, at LOGIN_PATH and LOGOUT_PATH."""

    @app.get(LOGIN_PATH, include_in_schema=False)
    def login_page(request: Request) -> Response:
        if not auth.enabled:
            return _page(f"<p>{html.escape(DISABLED)}</p>")
        session = auth.session(request.cookies.get(COOKIE))
        if session:
            return _page(
                f"<p>Du är inloggad som <b>{html.escape(session.user)}</b>.</p>"
                f'<p><a href="{STAFF_PATH}/">Till dokumenten</a></p>'
                f'<form method="post" action="{LOGOUT_PATH}"><button>Logga ut</button></form>'
            )
        return _form()

    @app.post(LOGIN_PATH, include_in_schema=False)
    async def login(request: Request) -> Response:
        if not auth.enabled:
            return _page(f"<p>{html.escape(DISABLED)}</p>", 403)
        client = request.client.host if request.client else "?"
        form = await _read_form(request)
        user = form.get("anvandare", "").strip()
        # counted before the password is checked, so parallel guesses cannot all get through
        limits = [(f"address:{client}", ATTEMPTS)]
        if user in auth.users:
            limits.append((f"account:{user}", ACCOUNT_ATTEMPTS))
        wait = auth.limiter.attempt(limits)
        if wait:
            minutes = max(1, round(wait / 60))
            log.warning("staff login for %r from %s refused: too many attempts", user[:64], client)
            return _form(
                f"För många misslyckade inloggningar. Försök igen om {minutes} "
                f"minut{'er' if minutes > 1 else ''}.",
                429,
            )
        ok = await asyncio.to_thread(auth.check, user, form.get("losenord", ""))
        if not ok:
            log.warning("failed staff login for %r from %s", user[:64], client)
            await asyncio.sleep(auth.failure_delay)
            return _form(WRONG, 401)
        auth.limiter.succeeded(key for key, _ in limits)
        log.info("staff login: %s from %s", user, client)
        response = RedirectResponse(STAFF_PATH + "/", status_code=303)
        secure = request.url.scheme == "https"
        response.headers.append(
            "set-cookie", cookie_header(auth.login(user), COOKIE_MAX_AGE, secure=secure)
        )
        response.headers["cache-control"] = "no-store"
        return response

    @app.post(LOGOUT_PATH, include_in_schema=False)
    def logout(request: Request) -> Response:
        session = auth.session(request.cookies.get(COOKIE))
        if session:
            auth.sessions.revoke(session)  # in the store: it holds across restarts
            log.info("staff logout: %s", session.user)
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.headers.append(
            "set-cookie", cookie_header("", 0, secure=request.url.scheme == "https")
        )
        response.headers["cache-control"] = "no-store"
        return response
