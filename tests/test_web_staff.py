"""The staff area: hashes, sessions, limiter and file names as pure functions; the corpus
operations and page handlers on a real index; then the real app on 127.0.0.1, used over HTTP
the way a browser or a script would, and once through Chromium.

Every index is built in tmp_path with the deterministic hashing backend.
"""

from __future__ import annotations

import http.client
import os
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gradio as gr
import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from conftest import hashing, make_corpus, serve_in_thread, write_files
from kp_assistant.assistant import Assistant
from kp_assistant.cli import main
from kp_assistant.errors import ConfigError
from kp_assistant.settings import Settings
from kp_assistant.web.app import create_app
from kp_assistant.web.staff.auth import (
    LoginLimiter,
    StaffAuth,
    credential,
    hash_password,
    load_users,
    parse_users,
    verify_password,
)
from kp_assistant.web.staff.login import COOKIE, COOKIE_MAX_AGE, DISABLED
from kp_assistant.web.staff.page import HEADERS, StaffHandler
from kp_assistant.web.staff.service import MAX_NAME_CHARS, StaffError, StaffService, safe_filename
from kp_assistant.web.staff.sessions import SessionStore

SECRET = "staff-test-secret-0123456789"
PASSWORD = "rätt lösenord 42"
# an scrypt hash of PASSWORD as earlier versions wrote them (n=16, cheap): still accepted
OLD_SCRYPT = "scrypt$16$8$1$c3RhZmYtdGVzdC1zYWx0$4ltN97z9ZH8xUAqCmjGmBHzMUj690TIfqtSiYJUGFkI"

ZEBRA = "# Zebrakommunen\n\nZebrakommunen samarbetar med Okapistad om solenergi.\n"
ZEBRA_QUESTION = "Vad samarbetar Zebrakommunen med Okapistad om?"


# -- password hashes and the users setting -----------------------------------------------


def test_password_hash_round_trip() -> None:
    encoded = hash_password(PASSWORD)
    assert encoded.startswith("$argon2id$v=19$")
    assert verify_password(PASSWORD, encoded)
    assert not verify_password("rätt lösenord 43", encoded)
    assert not verify_password("", encoded)
    assert hash_password(PASSWORD) != encoded  # a new salt every time
    assert PASSWORD not in encoded


def test_old_scrypt_hashes_still_verify_and_are_upgraded_in_the_staff_file(
    tmp_path: Path,
) -> None:
    assert verify_password(PASSWORD, OLD_SCRYPT) and not verify_password("fel", OLD_SCRYPT)
    staff_file = tmp_path / "staff"
    staff_file.write_text(f"# konton\nanna:{OLD_SCRYPT}\n", encoding="utf-8")
    settings = Settings(staff_file=staff_file, secret_key=SECRET, index_dir=tmp_path / "i")
    auth = StaffAuth.from_settings(settings)
    cookie = auth.login("anna")
    assert auth.check("anna", PASSWORD)
    text = staff_file.read_text(encoding="utf-8")
    assert text.startswith("# konton\nanna:$argon2id$") and OLD_SCRYPT not in text
    assert verify_password(PASSWORD, parse_users(text)["anna"])
    assert auth.session(cookie) is not None  # same password, new encoding: session kept


def test_a_changed_password_ends_the_sessions_opened_with_the_old_one(tmp_path: Path) -> None:
    staff_file = tmp_path / "staff"
    staff_file.write_text(f"anna:{hash_password(PASSWORD)}\n", encoding="utf-8")
    settings = Settings(staff_file=staff_file, secret_key=SECRET, index_dir=tmp_path / "i")
    auth = StaffAuth.from_settings(settings)
    cookie = auth.login("anna")
    assert auth.session(cookie) is not None
    staff_file.write_text(f"anna:{hash_password('ett nytt lösenord')}\n", encoding="utf-8")
    assert auth.session(cookie) is None
    restarted = StaffAuth.from_settings(settings)  # and after a restart too
    assert restarted.session(cookie) is None


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plain text password",
        "pbkdf2$16384$8$1$c2FsdHNhbHQ$aGFzaA",
        "scrypt$16384$8$1$c2FsdA",  # parts missing
        "scrypt$1000$8$1$c2FsdHNhbHQ$" + "A" * 43,  # n not a power of two
        "scrypt$1048576$8$1$c2FsdHNhbHQ$" + "A" * 43,  # too expensive
        "scrypt$16384$8$1$c2FsdHNhbHQ$c2hvcnQ",  # hash too short
        "scrypt$x$8$1$c2FsdHNhbHQ$" + "A" * 43,
    ],
)
def test_malformed_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("anything", encoded)


def test_users_are_parsed_from_the_setting_and_the_file(tmp_path: Path) -> None:
    anna, bo = hash_password("a" * 12), hash_password("b" * 12)
    assert parse_users(f" anna:{anna} ;\nbo:{bo};") == {"anna": anna, "bo": bo}
    staff_file = tmp_path / "staff"
    staff_file.write_text(f"# personal\nåsa.lind@kommun.se:{bo}\n\n", encoding="utf-8")
    settings = Settings(staff_users=f"anna:{anna}", staff_file=staff_file)
    assert load_users(settings) == {"anna": anna, "åsa.lind@kommun.se": bo}
    assert load_users(Settings()) == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("anna", "namn:$argon2id"),
        ("anna:hemligt", "staff-password"),
        ("an na:scrypt$16$8$1$c2FsdHNhbHQ$" + "A" * 43, "användarnamn"),
        (":scrypt$16$8$1$c2FsdHNhbHQ$" + "A" * 43, "användarnamn"),
    ],
)
def test_bad_users_setting_is_one_clear_error(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_users(text)
    assert fragment in str(caught.value) and "KP_STAFF_USERS" in str(caught.value)


def test_missing_staff_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KP_STAFF_FILE"):
        load_users(Settings(staff_file=tmp_path / "saknas"))


def test_secret_key_must_not_be_trivial_and_is_not_echoed() -> None:
    with pytest.raises(ConfigError, match="KP_SECRET_KEY är för kort") as caught:
        StaffAuth.from_settings(Settings(secret_key="kort-hemlis"))
    assert "kort-hemlis" not in str(caught.value)
    assert StaffAuth.from_settings(Settings(secret_key=SECRET)).enabled is False


def test_staff_password_command_prints_a_hash_line() -> None:
    result = CliRunner().invoke(
        main, ["staff-password", "--user", "anna"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert parse_users(line)["anna"] == line.split(":", 1)[1]
    assert verify_password(PASSWORD, line.split(":", 1)[1])

    short = CliRunner().invoke(main, ["staff-password"], input="kort\nkort\n")
    assert short.exit_code == 1 and "minst 10 tecken" in short.output
    bad = CliRunner().invoke(main, ["staff-password", "--user", "a b"], input="")
    assert bad.exit_code == 1 and "användarnamn" in bad.output


# -- sessions and the login limiter ------------------------------------------------------


def test_session_cookie_round_trip_expiry_and_tampering(tmp_path: Path) -> None:
    sessions = SessionStore(SECRET.encode(), minutes=60, path=tmp_path / "sessions.sqlite3")
    now = time.time()
    cookie = sessions.issue("anna", "cred", now=now)
    session = sessions.read(cookie, now=now + 10)
    assert session is not None and (session.user, session.credential) == ("anna", "cred")
    assert sessions.read(cookie, now=now + 3601) is None  # expired, and removed
    assert sessions.read(cookie, now=now + 10) is None
    fresh = sessions.issue("anna", "cred", now=now)
    other_key = SessionStore(b"another secret!!", minutes=60, path=tmp_path / "sessions.sqlite3")
    assert other_key.read(fresh, now=now) is None
    payload, _, signature = fresh.rpartition(".")
    forged = [payload + "." + signature[:-2] + "AA", payload, fresh + "x", "", "a" * 600,
              "x" * 40]
    assert all(sessions.read(c, now=now) is None for c in forged)
    assert sessions.read(fresh, now=now) is not None


def test_session_renews_when_half_used_and_never_beyond_the_cap(tmp_path: Path) -> None:
    sessions = SessionStore(SECRET.encode(), minutes=60, path=tmp_path / "s.sqlite3")
    now = time.time()
    cookie = sessions.issue("anna", "c", now=now)
    first = sessions.read(cookie, now=now + 600)
    assert first is not None and first.expires == int(now) + 3600  # most of the hour left
    renewed = sessions.read(cookie, now=now + 2000)
    assert renewed is not None and renewed.expires == int(now + 2000) + 3600
    assert renewed.issued == first.issued  # the 12-hour cap counts from the login
    assert sessions.read(cookie, now=now + 5000) is not None  # kept alive by use
    late = now + 12 * 3600 - 30
    for step in range(int(now + 5000), int(late), 1700):
        assert sessions.read(cookie, now=step) is not None
    capped = sessions.read(cookie, now=late)
    assert capped is not None and capped.expires <= now + 12 * 3600
    assert sessions.read(cookie, now=now + 12 * 3600 + 1) is None


def test_revoked_session_stays_revoked_in_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    sessions = SessionStore(SECRET.encode(), minutes=60, path=path)
    cookie, other = sessions.issue("anna", "c"), sessions.issue("anna", "c")
    session = sessions.read(cookie)
    assert session is not None
    sessions.revoke(session)  # logging out
    restarted = SessionStore(SECRET.encode(), minutes=60, path=path)  # as after a restart
    assert restarted.read(cookie) is None
    assert restarted.read(other) is not None  # another login of the same user goes on
    assert restarted.read(restarted.issue("anna", "c")) is not None


def test_login_limiter_counts_attempts_before_the_check() -> None:
    clock = [1000.0]
    limiter = LoginLimiter(attempts=3, window=60, clock=lambda: clock[0])
    address = [("address:10.0.0.1", 3)]
    assert [limiter.attempt(address) for _ in range(3)] == [0, 0, 0]
    assert 59 <= limiter.attempt(address) <= 60  # the fourth is refused, not counted
    assert limiter.attempt([("address:10.0.0.2", 3)]) == 0  # other addresses go on
    clock[0] += 61
    assert limiter.attempt(address) == 0
    limiter.succeeded(["address:10.0.0.1"])
    assert limiter.attempt(address) == 0


def test_login_limiter_counts_per_account_across_addresses() -> None:
    limiter = LoginLimiter(attempts=5, window=60, clock=lambda: 0.0)
    waits = [limiter.attempt([(f"address:10.0.0.{i}", 5), ("account:anna", 10)])
             for i in range(12)]
    assert waits[:10] == [0] * 10 and all(w > 0 for w in waits[10:])
    assert limiter.attempt([("address:10.0.0.99", 5), ("account:bo", 10)]) == 0


def test_a_full_limiter_never_forgets_a_lockout() -> None:
    clock = [0.0]
    limiter = LoginLimiter(attempts=1, window=60, max_keys=10, clock=lambda: clock[0])
    assert limiter.attempt([("address:victim", 1)]) == 0
    for i in range(50):  # a spray of new addresses
        limiter.attempt([(f"address:{i}", 1)])
    assert limiter.attempt([("address:victim", 1)]) > 0  # still locked out
    clock[0] += 61  # once the window has passed, old keys expire and room is made
    assert limiter.attempt([("address:new", 1)]) == 0


# -- file names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Årsrapport Växjö 2024.pdf", "Årsrapport Växjö 2024.pdf"),
        ("../../x.txt", "x.txt"),
        ("..\\..\\windows\\x.txt", "x.txt"),
        ("/etc/passwd", "passwd"),
        ("-rf.md", "rf.md"),
        ("--help.txt", "help.txt"),
        (".env", "env"),
        ("...hemlig.md", "hemlig.md"),
        ("  många    mellanslag\t i namnet .MD", "många mellanslag i namnet.md"),
        ("kontroll\x00tecken\x1b[31m.txt", "kontrolltecken 31m.txt"),
        ("\u202etxt.exe", "txt.exe"),  # right-to-left override dropped
        ("a\u030angstro\u0308m.md", "ångström.md"),  # decomposed å and ö composed
        ('fråga?"<stjärna>*|.html', "fråga stjärna.html"),
        ("rapport.pdf.", "rapport.pdf"),
        (".pdf", "pdf"),
        ("-", ""),
        ("", ""),
    ],
)
def test_safe_filename(sent: str, stored: str) -> None:
    assert safe_filename(sent) == stored


def test_safe_filename_limits_the_length_and_keeps_the_type() -> None:
    name = safe_filename("ö" * 300 + ".docx")
    assert name.endswith(".docx") and len(name) <= MAX_NAME_CHARS
    assert unicodedata.is_normalized("NFC", name)


# -- the corpus operations on a real index -----------------------------------------------


@pytest.fixture
def service(tmp_path: Path, corpus: Path) -> StaffService:
    assistant = Assistant.from_settings(hashing(tmp_path, corpus))
    assistant.ingest()
    return StaffService(assistant, max_bytes=10_000)


def upload(service: StaffService, name: str, data: bytes | str, **kw: Any) -> Any:
    raw = data.encode() if isinstance(data, str) else data
    return service.save_upload(name, BytesIO(raw), **kw)


def test_upload_then_sync_makes_a_document_answerable(service: StaffService) -> None:
    result = upload(service, "../zebra.md", ZEBRA)
    assert (result.name, result.status) == ("zebra.md", "saved")
    assert (service.root / "zebra.md").read_text(encoding="utf-8") == ZEBRA
    rows = {r.source: r.status for r in service.documents()}
    assert rows["zebra.md"] == "pending"
    assert not service.assistant.ask(ZEBRA_QUESTION).grounded

    summary = service.sync()
    assert summary.added == ["zebra.md"]
    answer = service.assistant.ask(ZEBRA_QUESTION)
    assert answer.grounded and answer.citations[0].source == "zebra.md"
    assert {r.source: r.status for r in service.documents()}["zebra.md"] == "indexed"
    assert not [p for p in service.root.iterdir() if p.name.startswith(".")]  # no leftovers


def test_upload_never_overwrites_a_different_document(service: StaffService) -> None:
    original = (service.root / "ansokan.txt").read_text(encoding="utf-8")
    same = upload(service, "ansokan.txt", original)
    assert same.status == "unchanged" and "redan inläst" in same.message

    with pytest.raises(StaffError) as caught:
        upload(service, "ansokan.txt", "Helt annan text om ansökan.\n")
    assert caught.value.status == 409 and "finns redan" in str(caught.value)
    assert (service.root / "ansokan.txt").read_text(encoding="utf-8") == original

    with pytest.raises(StaffError, match=r"Samma innehåll finns redan som ”ansokan\.txt”"):
        upload(service, "kopia av ansokan.txt", original)
    assert not (service.root / "kopia av ansokan.txt").exists()

    replaced = upload(service, "ansokan.txt", "Ny version om ansökan.\n", replace=True)
    assert replaced.status == "replaced"
    assert (service.root / "ansokan.txt").read_text(encoding="utf-8") == "Ny version om ansökan.\n"
    assert service.sync().updated == ["ansokan.txt"]


@pytest.mark.parametrize(
    ("name", "data", "status", "fragment"),
    [
        ("program.exe", b"MZ\x90\x00", 415, "Filtypen .exe"),
        ("utan_filandelse", b"text", 415, "utan filändelse"),
        ("falsk.pdf", b"<html>inte en pdf</html>", 415, "ingen giltig PDF"),
        ("falsk.docx", b"%PDF-1.4", 415, "ingen giltig DOCX"),
        ("tom.txt", b"", 400, "tom"),
        ("stor.txt", b"x" * 10_001, 413, "större än"),
        ("-", b"text", 400, "går inte att använda"),
    ],
)
def test_refused_uploads_leave_nothing(
    service: StaffService, name: str, data: bytes, status: int, fragment: str
) -> None:
    before = sorted(p.name for p in service.root.iterdir())
    with pytest.raises(StaffError) as caught:
        upload(service, name, data)
    assert caught.value.status == status and fragment in str(caught.value)
    assert sorted(p.name for p in service.root.iterdir()) == before


def test_upload_does_not_replace_a_symlink(service: StaffService, tmp_path: Path) -> None:
    outside = tmp_path / "utanfor.md"
    outside.write_text("Hemlig text utanför korpusen.\n", encoding="utf-8")
    (service.root / "lank.md").symlink_to(outside)
    with pytest.raises(StaffError, match="länk"):
        upload(service, "lank.md", "Ny text.\n", replace=True)
    assert outside.read_text(encoding="utf-8") == "Hemlig text utanför korpusen.\n"


def test_document_list_shows_every_status(service: StaffService) -> None:
    write_files(service.root, {"ny.md": "# Ny\n\nEn ny fil om vänorter.\n"})
    (service.root / "trasig.pdf").write_bytes(b"%PDF-1.4 trasig")
    service.sync()
    (service.root / "kalix_masaka.md").unlink()  # gone from the folder, still indexed
    write_files(service.root, {"senare.txt": "Tillagd efter inläsningen.\n"})
    rows = {r.source: r for r in service.documents()}
    assert rows["ny.md"].status == "indexed" and rows["ny.md"].chunks >= 1
    assert rows["ny.md"].title == "Ny" and rows["ny.md"].pages == 1
    assert rows["trasig.pdf"].status == "failed" and rows["trasig.pdf"].reason
    assert rows["kalix_masaka.md"].status == "missing"
    assert rows["senare.txt"].status == "pending"


def test_delete_removes_file_and_every_trace_in_the_index(service: StaffService) -> None:
    upload(service, "zebra.md", ZEBRA)
    service.sync()
    store = service.assistant.store
    chunk_ids = set(store.manifest.files["zebra.md"].chunks)
    assert chunk_ids <= store.stored_ids() and chunk_ids <= set(store.keyword().ids)

    service.delete("zebra.md")
    assert not (service.root / "zebra.md").exists()
    assert service.sync().removed == ["zebra.md"]
    assert not chunk_ids & store.stored_ids()  # Chroma
    assert not chunk_ids & set(store.keyword().ids)  # bm25
    assert "zebra.md" not in store.manifest.files
    assert not service.assistant.ask(ZEBRA_QUESTION).grounded
    assert service.assistant.resolve_source("zebra.md") is None

    for name in ("zebra.md", "../conftest.py", "/etc/passwd", "natverk"):
        with pytest.raises(StaffError) as caught:
            service.delete(name)
        assert caught.value.status == 404


def test_delete_of_a_symlink_removes_only_the_link(service: StaffService, tmp_path: Path) -> None:
    outside = tmp_path / "utanfor.md"
    outside.write_text("Utanför.\n", encoding="utf-8")
    (service.root / "lank.md").symlink_to(outside)
    service.sync()  # reported as failed: it leads out of the corpus
    service.delete("lank.md")
    assert not (service.root / "lank.md").is_symlink() and outside.exists()
    service.sync()
    assert "lank.md" not in {r.source for r in service.documents()}


# -- the page's handlers -----------------------------------------------------------------


def test_page_handlers_upload_list_delete_and_reindex(
    service: StaffService, tmp_path: Path
) -> None:
    handler = StaffHandler(service)
    request = gr.Request(username="anna")
    incoming = tmp_path / "gradio-upload"
    incoming.mkdir()
    good, bad = incoming / "zebra.md", incoming / "virus.exe"
    good.write_text(ZEBRA, encoding="utf-8")
    bad.write_bytes(b"MZ")

    handler = StaffHandler(service, upload_folder=incoming)
    received = handler.remember([str(good), str(bad)], [])
    updates = list(handler.upload([str(good), str(bad)], received, False, request))
    status, rows, choices, overview, files = updates[-1]
    assert "✓ ”zebra.md” sparades." in status and "✗ virus.exe: Filtypen .exe" in status
    assert "zebra.md: tillagt" in status and "Inläsningen är klar: 1 nya" in status
    assert "Traceback" not in status
    assert ["zebra.md", "Zebrakommunen", "inläst", 1, 1, ""] in rows
    assert "zebra.md" in choices["choices"] and files is None
    assert "**5** inlästa dokument" in overview
    assert not good.exists() and not bad.exists()  # gradio's temporary copies are gone
    assert len(HEADERS) == len(rows[0])

    visible, question = handler.ask_delete(["zebra.md"])
    assert visible["visible"] is True and "Ta bort 1 dokument?" in question
    status, rows, *_ = list(handler.delete(["zebra.md"], request))[-1]
    assert "✓ ”zebra.md” togs bort" in status and "1 borttagna" in status
    assert "zebra.md" not in [r[0] for r in rows]

    (service.root / "senare.md").write_text("# Senare\n\nOm vänorter.\n", encoding="utf-8")
    updates = list(handler.reindex(request))
    assert len(updates) >= 2 and "senare.md: tillagt" in updates[-1][0]

    again = incoming / "senare.md"
    again.write_text("# Senare\n\nOm vänorter.\n", encoding="utf-8")
    status = list(handler.upload([str(again)], [str(again)], False, request))[-1][0]
    assert "redan inläst" in status and "Inget nytt att läsa in." in status


def test_page_handler_errors_are_messages(tmp_path: Path) -> None:
    settings = hashing(tmp_path, tmp_path / "finns_inte")
    handler = StaffHandler(StaffService(Assistant.from_settings(settings), max_bytes=1000))
    status = list(handler.reindex(gr.Request(username="anna")))[-1][0]
    assert "Dokumentmappen" in status and "finns inte" in status and "Traceback" not in status
    status = list(handler.upload(None, [], False, gr.Request(username="anna")))[-1][0]
    assert "Välj en eller flera filer" in status

    (settings.index_dir / "manifest.json").write_text("{trasig", encoding="utf-8")
    broken = StaffHandler(StaffService(Assistant.from_settings(settings), max_bytes=1000))
    rows, choices, overview = broken.refresh()
    assert rows == [] and choices["choices"] == []
    assert "ingest --rebuild" in overview and "Traceback" not in overview


# -- the real app over HTTP --------------------------------------------------------------


@dataclass
class Server:
    port: int
    app: FastAPI
    assistant: Assistant
    corpus: Path

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def cookie(self) -> str | None:
        for header in self.headers.get_all("set-cookie") or []:
            name, _, rest = header.partition("=")
            if name == COOKIE:
                return rest.split(";", 1)[0]
        return None


def call(
    server: Server,
    method: str,
    path: str,
    body: bytes | Iterator[bytes] | None = None,
    *,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
    csrf: bool = True,
) -> Reply:
    """One request with `path` exactly as written (no normalising of ".." or "%2F")."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    sent = dict(headers or {})
    if cookie is not None:
        sent["Cookie"] = f"{COOKIE}={cookie}"
        session = server.app.state.staff_auth.sessions.read(cookie)
        if session is not None and csrf:  # as a script does: the token from the listing
            sent.setdefault("X-CSRF-Token", server.app.state.staff_auth.csrf_token(session))
    try:
        conn.request(
            method,
            path,
            body=body,
            headers=sent,
            encode_chunked=body is not None and not isinstance(body, bytes),
        )
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def login(server: Server, user: str = "anna", password: str = PASSWORD) -> Reply:
    form = urlencode({"anvandare": user, "losenord": password}).encode()
    return call(
        server,
        "POST",
        "/personal/logga-in",
        form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def put(server: Server, name: str, data: bytes | str, cookie: str | None, **query: str) -> Reply:
    raw = data.encode() if isinstance(data, str) else data
    path = "/personal/api/dokument?" + urlencode({"namn": name, **query})
    return call(server, "POST", path, raw, cookie=cookie)


@contextmanager
def serving(settings: Settings) -> Iterator[Server]:
    assistant = Assistant.from_settings(settings)
    assistant.ingest()
    app = create_app(assistant, settings)
    with serve_in_thread(app) as port:
        yield Server(port, app, assistant, settings.corpus_dir.resolve())


def staff_settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "staff_users": f"anna:{hash_password(PASSWORD)}",
        "secret_key": SECRET,
        "upload_max_mb": 0.05,  # about 52 kB
        **overrides,
    }
    return hashing(tmp, make_corpus(tmp), **values)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(staff_settings(tmp_path_factory.mktemp("staff"))) as running:
        yield running


@pytest.fixture(scope="module")
def cookie(server: Server) -> str:
    reply = login(server)
    assert reply.status == 303 and reply.headers["location"] == "/personal/"
    value = reply.cookie()
    assert value
    return value


GUARDED = [
    ("GET", "/personal/"),
    ("GET", "/personal"),
    ("GET", "/personal/config"),
    ("GET", "/personal/gradio_api/info"),
    ("GET", "/personal/gradio_api/info?all_endpoints=true"),
    ("POST", "/personal/gradio_api/queue/join"),
    ("POST", "/personal/gradio_api/run/predict"),
    ("POST", "/personal/gradio_api/upload"),
    ("GET", "/personal/gradio_api/queue/data?session_hash=x"),
    ("GET", "/personal/api/dokument"),
    ("POST", "/personal/api/dokument?namn=x.txt"),
    ("DELETE", "/personal/api/dokument?namn=ansokan.txt"),
    ("POST", "/personal/api/indexera"),
    ("GET", "/personal/login"),  # gradio's own login route, behind the guard too
    ("GET", "/%70ersonal/api/dokument"),  # percent-encoded: the same path once decoded
    ("GET", "/personal/./api/dokument"),
    ("GET", "/personal/x/../api/dokument"),
]


def test_anonymous_requests_to_the_staff_area_are_refused(server: Server) -> None:
    for method, path in GUARDED:
        body = b"data" if method == "POST" else None
        reply = call(server, method, path, body)
        assert reply.status == 401, (method, path, reply.status)
        assert reply.text == '{"detail": "Inloggning krävs."}'
        assert reply.cookie() is None
    # a browser is sent to the login page instead
    reply = call(server, "GET", "/personal/", headers={"Accept": "text/html"})
    assert (reply.status, reply.headers["location"]) == (303, "/personal/logga-in")
    page = call(server, "GET", "/personal/logga-in")
    assert page.status == 200 and 'name="losenord"' in page.text and "Logga in" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # nothing was written by the refused upload, nothing removed by the refused delete
    assert not (server.corpus / "x.txt").exists() and (server.corpus / "ansokan.txt").exists()


def test_paths_that_do_not_reach_the_staff_area_do_not_answer_with_it(server: Server) -> None:
    for path in ["//personal/api/dokument", "/PERSONAL/api/dokument", "/personalx/api/dokument"]:
        reply = call(server, "GET", path)
        assert reply.status == 404, (path, reply.status)
        assert '"mapp"' not in reply.text  # not the staff listing


def test_public_chat_has_no_staff_functions(server: Server) -> None:
    config = call(server, "GET", "/config")
    assert config.status == 200
    assert "Ladda upp och läs in" not in config.text and "Ta bort" not in config.text
    assert "Personal: hantera dokument" in config.text  # the link to the login
    info = call(server, "GET", "/gradio_api/info")
    assert info.status == 200 and "/ask" in info.text
    for name in ("upload", "delete", "reindex", "ingest"):
        assert f'"/{name}' not in info.text


def test_wrong_password_or_unknown_user_is_refused(server: Server) -> None:
    for user, password in [("anna", "fel lösenord"), ("okänd", PASSWORD), ("anna", ""), ("", "")]:
        started = time.monotonic()
        reply = login(server, user, password)
        assert reply.status == 401 and "Fel användarnamn eller lösenord." in reply.text
        assert reply.cookie() is None
        assert time.monotonic() - started >= 0.4  # the delay on every failure
    server.app.state.staff_auth.limiter.succeeded(  # other tests log in
        ["address:127.0.0.1", "account:anna"]
    )


def test_right_password_gives_a_strict_http_only_session(server: Server, cookie: str) -> None:
    reply = login(server)
    header = next(h for h in reply.headers.get_all("set-cookie") if h.startswith(COOKIE))
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/personal", f"Max-Age={COOKIE_MAX_AGE}"):
        assert flag in header
    assert "Secure" not in header  # plain http on loopback; https would add it

    listing = call(server, "GET", "/personal/api/dokument", cookie=cookie)
    assert listing.status == 200 and listing.headers["cache-control"] == "no-store"
    documents = {d["dokument"]: d for d in _json(listing)["dokument"]}
    assert documents["kalix_masaka.md"]["status"] == "indexed"
    assert documents["kalix_masaka.md"]["avsnitt"] >= 1

    page = call(server, "GET", "/personal/", cookie=cookie)
    assert page.status == 200 and page.headers["x-frame-options"] == "DENY"
    config = call(server, "GET", "/personal/config", cookie=cookie)
    assert config.status == 200 and "Ladda upp och läs in" in config.text
    logged_in = call(server, "GET", "/personal/logga-in", cookie=cookie)
    assert "Du är inloggad som <b>anna</b>" in logged_in.text


def test_expired_tampered_foreign_and_unknown_user_cookies_are_refused(server: Server) -> None:
    auth = server.app.state.staff_auth
    sessions, now = auth.sessions, time.time()
    anna = credential(auth.users["anna"])
    good = sessions.issue("anna", anna, now=now)
    payload, _, signature = good.rpartition(".")
    refused = {
        "expired": sessions.issue("anna", anna, now=now - 3601),
        "past the 12 h cap": sessions.issue("anna", anna, now=now - 13 * 3600),
        "tampered": payload + "." + signature[::-1],
        "other secret": SessionStore(b"not the server's key", 60).issue("anna", anna, now=now),
        "user not configured": sessions.issue("eve", anna, now=now),
        "opened with another password": sessions.issue("anna", "old password", now=now),
        "garbage": "x" * 40,
    }
    for what, bad in refused.items():
        reply = call(server, "GET", "/personal/api/dokument", cookie=bad)
        assert reply.status == 401, what
    assert call(server, "GET", "/personal/api/dokument", cookie=good).status == 200


def test_a_session_past_half_its_life_is_renewed(server: Server) -> None:
    auth = server.app.state.staff_auth
    old = auth.sessions.issue("anna", credential(auth.users["anna"]), now=time.time() - 2400)
    reply = call(server, "GET", "/personal/api/dokument", cookie=old)
    assert reply.status == 200
    session = auth.sessions.read(old)
    assert session is not None and session.expires >= time.time() + 3500  # extended


def test_logout_ends_the_session(server: Server) -> None:
    session = login(server).cookie()
    assert session and call(server, "GET", "/personal/api/dokument", cookie=session).status == 200
    reply = call(server, "POST", "/personal/logga-ut", b"", cookie=session)
    assert reply.status == 303 and reply.headers["location"] == "/personal/logga-in"
    assert reply.cookie() == "" and "Max-Age=0" in reply.headers["set-cookie"]
    # the old cookie, replayed, no longer works
    assert call(server, "GET", "/personal/api/dokument", cookie=session).status == 401
    assert call(server, "GET", "/personal/", cookie=session).status == 401


def test_cross_site_changes_are_refused(server: Server, cookie: str) -> None:
    for headers in [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port or subdomain of the same site
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"},
    ]:
        reply = call(server, "POST", "/personal/api/indexera", b"", cookie=cookie,
                     headers=headers, csrf=False)
        assert reply.status == 403, headers
    # a script without browser headers needs the session's token
    bare = call(server, "POST", "/personal/api/indexera", b"", cookie=cookie, csrf=False)
    assert bare.status == 403 and "X-CSRF-Token" in bare.text
    wrong = call(server, "POST", "/personal/api/indexera", b"", cookie=cookie, csrf=False,
                 headers={"X-CSRF-Token": "fel"})
    assert wrong.status == 403
    token = _json(call(server, "GET", "/personal/api/dokument", cookie=cookie))["csrf"]
    ok = call(server, "POST", "/personal/api/indexera", b"", cookie=cookie, csrf=False,
              headers={"X-CSRF-Token": token})
    assert ok.status == 200
    same = call(server, "POST", "/personal/api/indexera", b"", cookie=cookie, csrf=False,
                headers={"Origin": server.url("").rstrip("/"), "Sec-Fetch-Site": "same-origin"})
    assert same.status == 200


def test_upload_lands_in_the_corpus_and_is_answerable(server: Server, cookie: str) -> None:
    assert not server.assistant.ask(ZEBRA_QUESTION).grounded
    reply = put(server, "zebra.md", ZEBRA, cookie)
    assert reply.status == 200, reply.text
    result = _json(reply)
    assert result["uppladdning"] == {
        "dokument": "zebra.md",
        "status": "saved",
        "meddelande": "”zebra.md” sparades.",
    }
    assert result["inlasning"]["added"] == ["zebra.md"]
    assert (server.corpus / "zebra.md").read_text(encoding="utf-8") == ZEBRA
    answer = server.assistant.ask(ZEBRA_QUESTION)
    assert answer.grounded and answer.citations[0].source == "zebra.md"
    opened = call(server, "GET", "/dokument/zebra.md")  # the public document link works
    assert opened.status == 200 and "Okapistad" in opened.text


def test_file_put_in_the_folder_is_indexed_by_reindex(server: Server, cookie: str) -> None:
    (server.corpus / "giraff.md").write_text(
        "# Giraffstad\n\nGiraffstad samarbetar med Noshörningby om dricksvatten.\n",
        encoding="utf-8",
    )
    listing = _json(call(server, "GET", "/personal/api/dokument", cookie=cookie))
    assert {
        "dokument": "giraff.md",
        "titel": "",
        "status": "pending",
        "sidor": 0,
        "avsnitt": 0,
        "orsak": "",
    } in listing["dokument"]
    reply = call(server, "POST", "/personal/api/indexera", b"", cookie=cookie)
    assert reply.status == 200 and _json(reply)["inlasning"]["added"] == ["giraff.md"]
    assert "Inläsningen är klar: 1 nya" in _json(reply)["inlasning"]["text"]
    assert server.assistant.ask("Vad samarbetar Giraffstad med Noshörningby om?").grounded


def test_refused_uploads_over_http(server: Server, cookie: str) -> None:
    before = sorted(p.name for p in server.corpus.iterdir())
    big = b"x" * (60 * 1024)
    cases = [
        (put(server, "verktyg.exe", b"MZ", cookie), 415, "Filtypen .exe"),
        (put(server, "/etc/passwd", b"root:x:0:0", cookie), 415, "utan filändelse"),
        (put(server, "stor.txt", big, cookie), 413, "större än gränsen på 0.05 MB"),
        (put(server, "tom.txt", b"", cookie), 400, "Filen är tom"),
    ]
    # without Content-Length, in chunks: the limit holds while the body streams in
    chunked = call(
        server,
        "POST",
        "/personal/api/dokument?namn=stor2.txt",
        iter([b"y" * 8192] * 8),
        cookie=cookie,
    )
    cases.append((chunked, 413, "större än"))
    for reply, status, fragment in cases:
        assert reply.status == status, (reply.status, reply.text)
        assert fragment in _json(reply)["detail"]
    assert sorted(p.name for p in server.corpus.iterdir()) == before


def test_traversal_and_dash_names_are_stored_cleaned_inside_the_corpus(
    server: Server, cookie: str
) -> None:
    outside = server.corpus.parent
    for query, stored, text in [
        ("namn=../../x.txt", "x.txt", "Text om Pelikanby och vänorter.\n"),
        ("namn=..%2F..%2F..%2Fy.txt", "y.txt", "Text om Flamingoby och vänorter.\n"),
        ("namn=%2Ftmp%2Fz.txt", "z.txt", "Text om Kondorby och vänorter.\n"),
        ("namn=..%5C..%5Cw.txt", "w.txt", "Text om Ibisby och vänorter.\n"),
        (
            "namn=-rf%20--no-preserve-root.md",
            "rf --no-preserve-root.md",
            "# Strutsby\n\nOm strutsar.\n",
        ),
        ("namn=.bashrc.md", "bashrc.md", "# Pingvinby\n\nOm pingviner.\n"),
    ]:
        reply = call(
            server, "POST", f"/personal/api/dokument?{query}", text.encode(), cookie=cookie
        )
        assert reply.status == 200, reply.text
        assert _json(reply)["uppladdning"]["dokument"] == stored
        assert (server.corpus / stored).read_text(encoding="utf-8") == text
    for name in ("x.txt", "y.txt", "w.txt"):
        assert not (outside / name).exists() and not (outside.parent / name).exists()


def test_overwrite_protection_over_http(server: Server, cookie: str) -> None:
    first = "# Lodjur\n\nLodjursby samarbetar med Pumastad om skolor.\n"
    assert put(server, "lodjur.md", first, cookie).status == 200
    again = put(server, "lodjur.md", first, cookie)
    assert again.status == 200 and _json(again)["uppladdning"]["status"] == "unchanged"
    assert "redan inläst" in _json(again)["uppladdning"]["meddelande"]

    second = "# Lodjur\n\nLodjursby samarbetar med Jaguarby om cyklar.\n"
    refused = put(server, "lodjur.md", second, cookie)
    assert refused.status == 409 and "finns redan" in _json(refused)["detail"]
    assert (server.corpus / "lodjur.md").read_text(encoding="utf-8") == first
    copy = put(server, "lodjur kopia.md", first, cookie)
    assert copy.status == 409 and "Samma innehåll" in _json(copy)["detail"]

    replaced = put(server, "lodjur.md", second, cookie, ersatt="true")
    assert replaced.status == 200 and _json(replaced)["uppladdning"]["status"] == "replaced"
    assert _json(replaced)["inlasning"]["updated"] == ["lodjur.md"]
    assert server.assistant.ask("Vad samarbetar Lodjursby med Jaguarby om?").grounded
    assert not server.assistant.ask("Vad samarbetar Lodjursby med Pumastad om?").grounded


def test_delete_over_http_removes_the_document_everywhere(server: Server, cookie: str) -> None:
    text = "# Tapir\n\nTapirstad samarbetar med Myrslokby om kollektivtrafik.\n"
    question = "Vad samarbetar Tapirstad med Myrslokby om?"
    assert put(server, "tapir.md", text, cookie).status == 200
    store = server.assistant.store
    chunk_ids = set(store.manifest.files["tapir.md"].chunks)
    assert server.assistant.ask(question).grounded

    reply = call(server, "DELETE", "/personal/api/dokument?namn=tapir.md", cookie=cookie)
    assert reply.status == 200 and _json(reply)["inlasning"]["removed"] == ["tapir.md"]
    assert not (server.corpus / "tapir.md").exists()
    assert not chunk_ids & store.stored_ids() and not chunk_ids & set(store.keyword().ids)
    assert not server.assistant.ask(question).grounded
    assert call(server, "GET", "/dokument/tapir.md").status == 404

    for name in ["tapir.md", "../conftest.py", "/etc/passwd"]:
        gone = call(
            server, "DELETE", "/personal/api/dokument?" + urlencode({"namn": name}), cookie=cookie
        )
        assert gone.status == 404 and "finns inte" in _json(gone)["detail"]


def test_public_chat_answers_without_login(server: Server) -> None:
    from gradio_client import Client

    client = Client(server.url(), verbose=False, download_files=False)
    result = client.predict("Vad handlar projektet mellan Kalix och Masaka om?", api_name="/ask")
    assert result["grounded"] and "plast" in result["answer"].lower()
    assert call(server, "GET", "/").status == 200
    assert call(server, "GET", "/dokument/kalix_masaka.md").status == 200


def test_too_many_failed_logins_lock_the_address_out(tmp_path: Path) -> None:
    with serving(staff_settings(tmp_path)) as server:
        for _ in range(5):
            assert login(server, "anna", "gissning").status == 401
        locked = login(server)  # even the right password, for now
        assert locked.status == 429 and "För många misslyckade inloggningar" in locked.text
        assert locked.cookie() is None


def test_staff_area_is_off_without_accounts(tmp_path: Path) -> None:
    with serving(staff_settings(tmp_path, staff_users="")) as server:
        page = call(server, "GET", "/personal/logga-in")
        assert page.status == 200 and DISABLED in page.text and "<form" not in page.text
        assert login(server).status == 403
        for method, path in GUARDED:
            assert call(server, method, path, b"x" if method == "POST" else None).status == 401
        config = call(server, "GET", "/config")
        assert config.status == 200 and "Personal: hantera dokument" not in config.text
        forged = SessionStore(SECRET.encode(), 60).issue("anna", "c")
        assert call(server, "GET", "/personal/api/dokument", cookie=forged).status == 401


def _json(reply: Reply) -> Any:
    import json

    return json.loads(reply.body)


# -- a real browser ----------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.clients
def test_browser_logs_in_uploads_deletes_and_logs_out(server: Server, tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    document = tmp_path / "Växjö webbläsare.md"
    document.write_text("# Växjö\n\nVäxjö samarbetar med Kisumu om skogsbruk.\n", "utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        page = browser.new_context(locale="sv-SE").new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        page.goto(server.url("/personal/"))
        assert page.url.endswith("/personal/logga-in")
        page.fill("input[name=anvandare]", "anna")
        page.fill("input[name=losenord]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/personal/")
        page.get_by_text("Inloggad som").wait_for()
        page.get_by_text("kalix_masaka.md").first.wait_for()

        page.locator("input[type=file]").first.set_input_files(str(document))
        page.get_by_text(document.name).first.wait_for()
        page.get_by_role("button", name="Ladda upp och läs in").click()
        page.get_by_text("Inläsningen är klar: 1 nya").wait_for()
        page.get_by_role("gridcell", name=document.name).wait_for()
        assert server.assistant.ask("Vad samarbetar Växjö med Kisumu om?").grounded

        page.get_by_label("Välj dokument att ta bort").click()
        page.get_by_role("option", name=document.name).click()
        page.get_by_role("button", name="Ta bort …").click()
        page.get_by_text("Ta bort 1 dokument?").wait_for()
        page.get_by_role("button", name="Ja, ta bort").click()
        page.get_by_text("1 borttagna").wait_for()
        assert not (server.corpus / document.name).exists()

        page.get_by_role("button", name="Logga ut").click()
        page.wait_for_url("**/personal/logga-in")
        page.goto(server.url("/personal/"))
        assert page.url.endswith("/personal/logga-in")
        assert errors == [], errors
        browser.close()
