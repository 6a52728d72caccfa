"""`eval-registry`: pair precision and recall of the registry against a hand-made table."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kp_assistant.cli import main
from kp_assistant.errors import KPError
from kp_assistant.evaluation.registry import load_gold, normalise, same_name, score_pairs

DOCS = {
    "mora.md": "# Mora och Kitwe\n\nMora kommun har ett partnerskap med Kitwe i Zambia.\n",
    "ydre.md": "# Ydre\n\nYdre kommun samarbetar med Zomba District Council i Malawi.\n",
    "konferens.md": "# Möte\n\nKonferensen i Örebro hade deltagare från Mwanza i Tanzania.\n",
}
TABLE = ("swedish\tpartner\tcountry\tdocuments\tevidence\n"
         "Mora kommun\tKitwe\tZambia\tmora.md\t-\n"
         "Ydre kommun\tZomba\tMalawi\tydre.md\t-\n"
         "Eksjö kommun\tMangochi\tMalawi\teksjo.md\t-\n")


def test_names_compare_without_type_words_genitive_case_and_diacritics() -> None:
    assert normalise("Bergs kommun", True) == "berg"
    assert normalise("Region Gävleborg", True) == "region gavleborg"
    assert normalise("Zomba District Council", False) == "zomba"
    assert normalise("Bihać", False) == "bihac"
    assert same_name("mogale", "mogale city") and not same_name("mora", "kitwe")


def test_score_counts_extra_and_missed_pairs() -> None:
    gold = {("mora", "kitwe"), ("ydre", "zomba")}
    score = score_pairs(gold, {("mora", "kitwe"), ("orebro", "mwanza")})
    assert (score.precision, score.recall) == (0.5, 0.5)
    assert score.extra == [("orebro", "mwanza")] and score.missed == [("ydre", "zomba")]


def test_a_file_that_is_no_table_is_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(KPError, match="not a partnership table"):
        load_gold(bad)


def test_command_ingests_extracts_and_prints_precision_and_recall(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    table = tmp_path / "gold.tsv"
    table.write_text(TABLE, encoding="utf-8")
    env = {"KP_EMBEDDING_BACKEND": "hashing"}
    args = ["eval-registry", str(table), "--corpus", str(corpus), "--index", str(tmp_path / "i")]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "missed  eksjo – mangochi" in result.output
    assert "extra" not in result.output  # the conference gives no pair
    assert result.output.strip().endswith(
        "registry pairs: 2 found, 3 gold; precision 1.000 recall 0.667")
    again = CliRunner().invoke(main, args, env=env)  # reuses the index
    assert again.output == result.output
    missing = CliRunner().invoke(main, [*args[:3], str(tmp_path / "nope"), *args[4:]], env=env)
    assert missing.exit_code == 1 and "does not exist" in missing.output
