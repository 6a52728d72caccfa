"""Start-up of `kp-assistant serve`: time to the first answered question, and its memory.

The bundled corpus is indexed first if needed (not timed). Each run then launches the real
`kp-assistant serve` on 127.0.0.1 with a free port and asks a real question through the app's
public Gradio endpoint `/ask` (plain HTTP: POST /gradio_api/call/ask, then the event stream)
every ~100 ms until an answer comes back. Reported per run and as the median: seconds from
launch to the port accepting connections and to the first answer, the CPU time the server
had used by then (which load on the machine does not inflate as much as the seconds), resident
memory of the server's process tree right after that answer and after EXTRA more answered
questions, and its peak (VmHWM). The load average is recorded at start and end. The server
is stopped with SIGTERM (SIGKILL after a grace period) whatever happens. Prints a Markdown
table and, unless --no-append, appends it with the machine and the command to
docs/benchmarks.md.

    .venv/bin/python benchmarks/startup.py                    # 3 runs, 20 extra questions
    .venv/bin/python benchmarks/startup.py --runs 1 --extra 5 --no-append
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine import markdown_table, publish

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 10.0
TARGET_MB = 1500.0  # 1.5 GB, in MB of 10^6 bytes
FIRST_QUESTION = "Vad handlar samarbetet mellan Robertsfors och Machakos om?"
QUESTIONS = [
    "Kan en region söka kommunalt partnerskap?",
    "Vilka kommuner arbetar med plast?",
    "Vilka länder kan man samarbeta med?",
    "Vad är ICLD?",
    "Hur mycket pengar kan ett partnerskap få?",
    "Vad handlar partnerskapet mellan Kalix och Masaka om?",
    "Which municipalities work on waste management?",
    "När stänger ansökan?",
    "Vilka partnerskap beviljades i juni 2019?",
    "Vad är ett tematiskt nätverk?",
    "Who finances the programme?",
    "Hur många partnerskap finns i Kenya?",
    "Vad gör Lund och Francistown tillsammans?",
    "Vilka beslut fattades i december 2022?",
    "Vad handlar samarbetet mellan Gotland och Kibaha om?",
    "Vilka kommuner samarbetar om jämställdhet?",
    "Vad krävs av en kommun som vill söka?",
    "Vad är Arvikas partnerskap?",
    "Vilka partnerskap finns i Sydafrika?",
    "How long does a partnership last?",
]


@dataclass
class Run:
    port_s: float = float("nan")
    answer_s: float = float("nan")
    cpu_s: float = float("nan")  # CPU time the server had used when the first answer came
    attempts: int = 0  # /ask requests sent until the first answer
    grounded: bool = False
    rss_first_mb: float = float("nan")
    rss_after_mb: float = float("nan")
    peak_mb: float = float("nan")
    processes: int = 0
    warm_ms: list[float] = field(default_factory=list)
    load_before: float = float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ask(port: int, question: str, timeout: float) -> dict[str, Any]:
    """One question through /ask; raises on any failure (refused, HTTP error, error event)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = json.dumps({"data": [question, []]})
        conn.request("POST", "/gradio_api/call/ask", body,
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST /ask: HTTP {response.status} {payload[:200]!r}")
        event_id = json.loads(payload)["event_id"]
        conn.request("GET", f"/gradio_api/call/ask/{event_id}")
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET /ask: HTTP {response.status}")
        event = ""
        while line := response.readline():
            text = line.decode("utf-8").strip()
            if text.startswith("event:"):
                event = text.split(":", 1)[1].strip()
            elif text.startswith("data:") and event in ("complete", "error"):
                data = json.loads(text.split(":", 1)[1])
                if event == "error" or not data:
                    raise RuntimeError(f"/ask error event: {data!r}")
                return dict(data[0])
        raise RuntimeError("/ask: stream ended without an answer")
    finally:
        conn.close()


def process_tree(root: int) -> list[int]:
    """root and all its descendants, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def rss_bytes(pid: int, fields: dict[str, str]) -> int:
    """Resident memory of one process: psutil where installed, else VmRSS from /proc."""
    try:
        import psutil  # type: ignore[import-untyped]

        return int(psutil.Process(pid).memory_info().rss)
    except Exception:  # not installed, or the process just ended
        return int(fields.get("VmRSS", "0 kB").split()[0]) * 1024


def usage(root: int) -> tuple[float, float, float, int]:
    """Of the process tree: RSS and peak RSS (VmHWM) in MB (10^6 bytes), summed; CPU seconds
    (user + system, including children already waited for); number of processes."""
    rss = peak = ticks = 0
    pids = process_tree(root)
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            fields = {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            rss += rss_bytes(pid, fields)
            peak += int(fields.get("VmHWM", "0 kB").split()[0]) * 1024
            ticks += sum(int(v) for v in stat[11:15])  # utime stime cutime cstime
    return rss / 1e6, peak / 1e6, ticks / os.sysconf("SC_CLK_TCK"), len(pids)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it has not ended in 15 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def one_run(kp: Path, index: Path, extra: int, timeout: float, poll: float, log: Path) -> Run:
    run = Run(load_before=os.getloadavg()[0])
    port = free_port()
    cmd = [str(kp), "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = started + timeout
        answer: dict[str, Any] | None = None
        port_at: float | None = None
        last_error = ""
        while answer is None:
            tick = time.perf_counter()
            if tick > deadline:
                raise RuntimeError(f"no answer within {timeout:.0f} s (last error: {last_error})")
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}:\n"
                                   + log.read_text(errors="replace")[-2000:])
            if port_at is None and port_open(port):
                port_at = time.perf_counter()
                run.port_s = port_at - started
            if port_at is not None:
                run.attempts += 1
                try:
                    answer = ask(port, FIRST_QUESTION, timeout=max(1.0, deadline - tick))
                    run.answer_s = time.perf_counter() - started
                    break
                except (OSError, RuntimeError, ValueError, KeyError) as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(max(0.0, poll - (time.perf_counter() - tick)))
        run.grounded = bool(answer.get("grounded"))
        run.rss_first_mb, _, run.cpu_s, _ = usage(proc.pid)
        for i in range(extra):
            t0 = time.perf_counter()
            ask(port, QUESTIONS[i % len(QUESTIONS)], timeout=60)
            run.warm_ms.append((time.perf_counter() - t0) * 1000)
        run.rss_after_mb, run.peak_mb, _, run.processes = usage(proc.pid)
    finally:
        stop(proc)
    return run


def ensure_index(kp: Path, index: Path, corpus: Path) -> str:
    """Sync the index with the corpus (a no-op when it is up to date); not timed."""
    print(f"syncing {corpus} into {index} …", file=sys.stderr, flush=True)
    done = subprocess.run([str(kp), "ingest", "--index", str(index), "--json", str(corpus)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"ingest into {index} failed ({done.returncode}): {done.stderr.strip()}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return f"{summary['chunks_total']} chunks, {len(summary['added'])} files added by the sync"


def fmt(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


def table(runs: list[Run], extra: int) -> str:
    head = ["run", "port open (s)", "first answer (s)", "server CPU by then (s)",
            "RSS after 1st answer (MB)",
            f"RSS after +{extra} answers (MB)", "peak RSS, VmHWM (MB)",
            f"answer p50 of the {extra} (ms)", "1-min load at launch"]
    rows = []
    for i, r in enumerate(runs, 1):
        p50 = statistics.median(r.warm_ms) if r.warm_ms else float("nan")
        rows.append([str(i), fmt(r.port_s, 2), fmt(r.answer_s, 2), fmt(r.cpu_s, 1),
                     fmt(r.rss_first_mb, 0),
                     fmt(r.rss_after_mb, 0), fmt(r.peak_mb, 0), fmt(p50, 0),
                     fmt(r.load_before, 2)])

    def median(attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs)

    all_ms = [ms for r in runs for ms in r.warm_ms]
    rows.append(["**median**", fmt(median("port_s"), 2), f"**{fmt(median('answer_s'), 2)}**",
                 fmt(median("cpu_s"), 1), fmt(median("rss_first_mb"), 0),
                 fmt(median("rss_after_mb"), 0),
                 f"**{fmt(median('peak_mb'), 0)}**",
                 fmt(statistics.median(all_ms), 0) if all_ms else "–",
                 fmt(median("load_before"), 2)])
    return markdown_table(head, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=Path("index/bench-startup"),
                        help="index folder, built from --corpus if needed (index/bench-startup)")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus",
                        help="folder to index (the bundled corpus/)")
    parser.add_argument("--runs", type=int, default=3, help="server launches (3)")
    parser.add_argument("--extra", type=int, default=20,
                        help="questions answered after the first one (20)")
    parser.add_argument("--poll", type=float, default=0.1, help="poll interval in s (0.1)")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds a launch may take to answer (180)")
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    kp = Path(sys.executable).with_name("kp-assistant")
    index_note = ensure_index(kp, args.index, args.corpus)
    load_start = os.getloadavg()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="kp-startup-") as tmp:
        for i in range(args.runs):
            run = one_run(kp, args.index, args.extra, args.timeout, args.poll,
                          Path(tmp) / f"serve-{i + 1}.log")
            runs.append(run)
            print(f"run {i + 1}: port {run.port_s:.2f} s, answer {run.answer_s:.2f} s "
                  f"({run.attempts} requests, {run.cpu_s:.1f} CPU s), RSS {run.rss_first_mb:.0f} → "
                  f"{run.rss_after_mb:.0f} MB, peak {run.peak_mb:.0f} MB, "
                  f"{run.processes} process(es)", file=sys.stderr, flush=True)
    load_end = os.getloadavg()

    first = statistics.median(r.answer_s for r in runs)
    peak = max(max(r.peak_mb, r.rss_after_mb) for r in runs)
    grounded = sum(r.grounded for r in runs)
    text = table(runs, args.extra) + (
        f"\n\nIndex {args.index} ({index_note}); {args.runs} launches of `kp-assistant serve` "
        f"on 127.0.0.1, polled every {args.poll * 1000:.0f} ms with \"{FIRST_QUESTION}\" "
        f"(grounded answer in {grounded} of {args.runs} runs). RSS is summed over the server's "
        f"process tree ({runs[-1].processes} process(es)); MB = 10^6 bytes. \"Server CPU\" is "
        "the user + system time the server had used when the first answer arrived (less "
        "than the seconds to it when other work competes for the cores). "
        f"Targets: first answer ≤ {TARGET_SECONDS:.0f} s — median {first:.2f} s, "
        f"{'met' if first <= TARGET_SECONDS else 'missed'}; RSS ≤ 1.5 GB — highest "
        f"{peak:.0f} MB, {'met' if peak <= TARGET_MB else 'missed'}. "
        f"Load average (1/5/15 min) at start {' / '.join(f'{v:.2f}' for v in load_start)}, "
        f"at end {' / '.join(f'{v:.2f}' for v in load_end)}."
    )
    publish("Start-up of `kp-assistant serve`", text, append=not args.no_append)


if __name__ == "__main__":
    main()
