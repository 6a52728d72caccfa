"""A progress bar for ingestion on stderr: files done, chunks embedded, the current file."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from kp_assistant.models import FileEvent

_BAR = 24


class ProgressPrinter:
    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.chunks = 0
        self.started = time.perf_counter()

    def __enter__(self) -> ProgressPrinter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")

    def __call__(self, event: FileEvent) -> None:
        if not self.enabled:
            return
        if event.status in ("added", "updated"):
            self.chunks += event.chunks
        total = max(event.total, 1)
        filled = round(_BAR * event.done / total)
        bar = "#" * filled + "-" * (_BAR - filled)
        elapsed = time.perf_counter() - self.started
        line = (f"[{bar}] {event.done}/{event.total} files, {self.chunks} chunks embedded, "
                f"{elapsed:.0f} s  ")
        if event.status == "embedding":
            line += f"embedding {event.chunks} chunks"
        else:
            line += f"{event.status}: {event.source}"
        if event.reason:
            line += f" ({event.reason})"
        if self.tty:
            sys.stderr.write("\r\033[K" + line[:200])
            if event.status == "failed":
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
