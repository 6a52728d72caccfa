"""Shared fixtures: a clean KP_* environment, small Swedish corpora and hashing-backend settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kp_assistant.settings import Settings

DEV_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev" / "corpus"

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
    if not DEV_CORPUS.is_dir() or not any(DEV_CORPUS.iterdir()):
        pytest.fail(
            f"The dev evaluation corpus is missing: {DEV_CORPUS}. The tests expect the shared "
            "folder next to the repository (../shared/eval/dev/corpus)."
        )
    return DEV_CORPUS
