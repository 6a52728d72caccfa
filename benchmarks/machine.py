"""Shared by the benchmark scripts: the machine description and appending to the docs."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


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
