"""Shared fixtures: a clean KP_* environment, small Swedish corpora and hashing-backend settings."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest

from kp_assistant.settings import Settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV_CORPUS = SHARED / "eval" / "dev" / "corpus"
# the shared evaluation sets lie beside the checkout in development and CI, not in a clone
NO_SHARED = f"needs the shared evaluation set beside the checkout ({DEV_CORPUS}), absent here"


def need_shared() -> None:
    """Skip the calling test when ../shared is not beside the checkout."""
    if not DEV_CORPUS.is_dir() or not any(DEV_CORPUS.iterdir()):
        pytest.skip(NO_SHARED)


needs_shared = pytest.mark.skipif(not DEV_CORPUS.is_dir(), reason=NO_SHARED)

# Four short documents, written for these tests. Each has words no other document has
# (plast/Masaka, jämställdhet/Machakos, dricksvatten/Francistown, ansökningsomgångar) so that
# tests can tell which file an answer came from.
CORPUS_FILES: dict[str, str] = {
    "kalix_masaka.md": """# Kalix och Masaka

Kalix kommun i Norrbotten har sedan 2018 ett kommunalt partnerskap med Masaka i Uganda.
Projektet handlar om hur plast påverkar miljön och om bättre avfallshantering.

## Unga och miljö

Unga i båda kommunerna ska få mer kunskap om plast och avfall. De ska också få bättre
möjlighet att påverka beslut i miljöfrågor, t.ex. genom ungdomsråd.
""",
    "robertsfors_machakos.txt": """Robertsfors och Machakos

Robertsfors kommun samarbetar med Machakos i Kenya. Partnerskapet handlar om jämställdhet
och om att motverka könsrelaterat våld. Parterna träffas ca två gånger per år.
""",
    "natverk/lund_francistown.md": """# Lund och Francistown

Lunds kommun och Francistown i Botswana arbetar med dricksvatten och hållbar stadsplanering.
Under 2021 fick partnerskapet 1,5 miljoner kronor, bl.a. för studieresor.
""",
    "ansokan.txt": """Så söker man

Svenska kommuner och regioner kan söka medel för kommunala partnerskap. Det finns två
ansökningsomgångar per år. En förberedelse kan sökas när som helst under året.
""",
}


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def make_corpus(tmp_path: Path, name: str = "corpus") -> Path:
    """Write the four test documents (one in a sub-folder) into tmp_path/name."""
    return write_files(tmp_path / name, CORPUS_FILES)


def hashing(
    tmp_path: Path, corpus: Path | None = None, index: str = "index", **overrides: object
) -> Settings:
    """Settings for the hashing backend with an index under tmp_path."""
    return Settings(
        index_dir=tmp_path / index,
        corpus_dir=corpus or tmp_path / "corpus",
        embedding_backend="hashing",
        **overrides,
    )


@pytest.fixture(autouse=True)
def _clean_kp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's KP_* variables must not change what the tests see."""
    for name in list(os.environ):
        if name.startswith("KP_"):
            monkeypatch.delenv(name)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path)


@pytest.fixture
def hashing_settings(tmp_path: Path, corpus: Path) -> Settings:
    return hashing(tmp_path, corpus)


@pytest.fixture(scope="session")
def dev_corpus() -> Path:
    need_shared()
    return DEV_CORPUS


# -- real servers on 127.0.0.1 as subprocesses: test_web_clients.py, test_index_chroma_server.py

# Read once at import: `_clean_kp_env` hides every KP_* variable while a test runs.
CI_CHROMA_URL = os.environ.get("KP_TEST_CHROMA_URL", "")
VENV_BIN = Path(sys.executable).parent


@contextmanager
def serve_in_thread(app: Any, config: Any = None) -> Iterator[int]:
    """Run an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yields the port.

    `config` is a uvicorn.Config to use instead of the default one (its address is ignored).
    """
    import threading

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def readable(stream: IO[bytes], timeout: float) -> bool:
    """Whether a pipe has bytes (or its end) within `timeout` seconds; unlike select.select,
    any file descriptor number works, however many files earlier tests left open."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        return bool(sel.select(timeout))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll `url` until it answers 200; fail with the server's log if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args} exited with {proc.returncode}:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{log_tail(log)}")


def log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@contextmanager
def running(
    args: list[str], url: str, log: Path, *, env: dict[str, str] | None = None, timeout: float = 120
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` in the background until the block ends, once `url` answers."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_for_http(url, proc, log, timeout)
        yield proc
    finally:
        stop(proc)


def chroma_args(path: Path, port: int) -> list[str]:
    chroma = VENV_BIN / "chroma"
    if not chroma.is_file():
        pytest.fail(
            f"{chroma} is missing; it comes with the chromadb package (pip install chromadb)"
        )
    return [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]


def chroma_heartbeat(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}/api/v2/heartbeat"


@pytest.fixture(scope="session")
def chroma_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A Chroma server: the one `.ci/run` started (KP_TEST_CHROMA_URL) or one started here."""
    if CI_CHROMA_URL:
        url = urllib.parse.urlsplit(CI_CHROMA_URL)
        assert url.hostname and url.port, (
            f"KP_TEST_CHROMA_URL={CI_CHROMA_URL!r}: need http://HOST:PORT"
        )
        try:
            urllib.request.urlopen(chroma_heartbeat(url.port, url.hostname), timeout=10).close()
        except OSError as exc:
            pytest.fail(
                f"the Chroma server at KP_TEST_CHROMA_URL={CI_CHROMA_URL} does not answer: {exc}"
            )
        yield url.hostname, url.port
        return
    tmp = tmp_path_factory.mktemp("chroma")
    port = free_port()
    with running(
        chroma_args(tmp / "db", port), chroma_heartbeat(port), tmp / "chroma.log", timeout=60
    ):
        yield "127.0.0.1", port
