"""Shared by the benchmark scripts: Markdown tables, the machine description, the command
line, and publishing a result (print, then append to docs/benchmarks.md)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"


def describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal"))
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration):
        mem = "RAM unknown"
    return (f"{cpu}, {os.cpu_count()} cores, {mem}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def append_section(title: str, table: str, command: str, machine: str) -> None:
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    with DOC.open("a", encoding="utf-8") as fh:
        fh.write(f"\n### {title} ({stamp})\n\nCommand: `{command}`  \nMachine: {machine}\n\n"
                 f"{table}\n")


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def command_line() -> str:
    """How this script was started, with paths relative to the checkout where possible."""
    exe = Path(sys.executable)
    with contextlib.suppress(ValueError):
        exe = exe.relative_to(Path.cwd())
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(REPO)
    return shlex.join([str(exe), str(script), *sys.argv[1:]])


def publish(title: str, text: str, *, append: bool) -> None:
    """Print a result and, if asked, append it with the machine and the command."""
    print(text)
    if append:
        append_section(title, text, command_line(), describe_machine())
        print(f"appended to {DOC.relative_to(REPO)}", file=sys.stderr)
