"""The documents of a corpus folder: which files are candidates, and which must not be read.

Hidden files and folders are never documents, whatever name or link leads to them; a link
out of the corpus is refused by the sync with its reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from kp_assistant.errors import KPError
from kp_assistant.models import SUPPORTED_SUFFIXES

__all__ = ["discover", "hidden_target", "outside_root"]


def discover(paths: Iterable[Path]) -> tuple[Path, dict[str, Path]]:
    """The corpus root and every candidate file under `paths`, keyed by root-relative path."""
    paths = [Path(p).resolve() for p in paths]
    for p in paths:
        if not p.exists():
            raise KPError(f"No such file or folder: {p}")
    dirs = [p if p.is_dir() else p.parent for p in paths]
    root = Path(os.path.commonpath(dirs))
    found: dict[str, Path] = {}
    for p in paths:
        candidates = [p] if p.is_file() else sorted(p.rglob("*"))
        for f in candidates:
            if f.suffix.lower() not in SUPPORTED_SUFFIXES or any(
                part.startswith(".") for part in f.relative_to(root).parts
            ):
                continue
            if f.is_file() or f.is_symlink():
                found[f.relative_to(root).as_posix()] = f
    return root, found


def hidden_target(path: Path, root: Path) -> bool:
    """A link to a hidden file or folder of the corpus: hidden files are never indexed,
    whatever name leads to them."""
    if not path.is_symlink():
        return False
    try:
        target = path.resolve()
        parts = target.relative_to(root.resolve()).parts
    except (OSError, RuntimeError, ValueError):  # loops and links out are reported later
        return False
    return any(part.startswith(".") for part in parts)


def outside_root(path: Path, root: Path) -> bool:
    """A symlink that leads out of the corpus: its text must not be indexed or served."""
    try:
        return not path.resolve().is_relative_to(root.resolve())
    except OSError:
        return True
