"""Fit the evidence and refusal models of the answer step and write them as JSON.

    python scripts/fit_answer_model.py --set ../shared/eval/dev --set ../shared/eval/dev2 \
        --out src/kp_assistant/data/answer_model.json
    python scripts/fit_answer_model.py --set ../shared/eval/dev --out /tmp/fit-dev.json \
        --score ../shared/eval/dev2          # fit on one set, refusal table on the other

A set is a folder with `qa.jsonl` and `corpus/`; its index is built (or reused) where
`kp-assistant eval` keeps it. Evidence labels: a candidate sentence is positive when it comes
from a gold document and its passage holds one of the question's `must_mention` elements.
Refusal labels: the set's unanswerable questions, plus unanswerable variants made from its
answerable ones (a Swedish municipality swapped for one no document names, a year for one no
document names, the question replaced by one about an attribute the documents never give),
against the answerable questions themselves. The refusal threshold is chosen on out-of-fold
probabilities (5 stratified folds of the fitted rows). Needs the `fit` extra (scikit-learn).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from kp_assistant.answering.evidence import FEATURES, AnswerModel, Logistic
from kp_assistant.answering.question import Question
from kp_assistant.answering.refusal import FEATURES as REFUSAL_FEATURES
from kp_assistant.assistant import Assistant
from kp_assistant.evaluation.qa import default_index_dir, load_qa
from kp_assistant.evaluation.qa import mentions as element_in
from kp_assistant.language.places import find_places, municipalities
from kp_assistant.settings import load_settings

_MARKER = re.compile(r"\[\d+\]")
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
# Attributes the program documents do not state; {x} is a name from the question.
_ATTRIBUTES = {
    "sv": ["Hur många invånare har {x}?", "Vem efterträdde kommunstyrelsens ordförande i {x}?",
           "Hur stor var budgeten för {x} år 1995?"],
    "en": ["How many inhabitants does {x} have?", "Who succeeded the mayor of {x}?",
           "What was the budget of {x} in 1995?"],
}


MAX_FALSE_REFUSALS = 0.04
# Out-of-fold probabilities are averaged over this many shuffles of the folds: with a few dozen
# questions, which others share a question's fold moves its probability, and the threshold
# with it.
REPEATS = 10


def zero_model() -> AnswerModel:
    def zero(names: tuple[str, ...]) -> Logistic:
        n = len(names)
        return Logistic(names, np.zeros(n), np.ones(n), np.zeros(n), 0.0)

    return AnswerModel(zero(FEATURES), zero(REFUSAL_FEATURES), {})


def assistant_for(folder: Path) -> Assistant:
    corpus = folder / "corpus"
    settings = load_settings().model_copy(update={"index_dir": default_index_dir(corpus)})
    assistant = Assistant.from_settings(settings)
    assistant.ingest([corpus])
    return assistant


def mentions(text: str, must: list[str]) -> bool:
    """Whether the text holds one of the elements, matched as `kp-assistant eval` does."""
    low = _MARKER.sub(" ", text).lower()
    return any(element_in(low, alt.strip().lower())
               for el in must for alt in el.split("|") if alt.strip())


def evidence_rows(assistant: Assistant, items: list[dict[str, Any]]) -> tuple[list[Any], list[int]]:
    from kp_assistant.answering.citing import passage

    composer = assistant.composer(zero_model(), dense_all=True)
    x, y = [], []
    for item in items:
        must, gold = item.get("must_mention") or [], set(item.get("gold_docs") or [])
        if item["type"] == "unanswerable" or not must or not gold:
            continue
        q = Question.parse(item["question"])
        q, hits, qvec = assistant.understand(q)
        _, cands, _ = composer.rank(q, hits, qvec)
        labels = [int(Path(c.hit.chunk.source).name in gold and mentions(passage(c), must))
                  for c in cands]
        if not any(labels):
            continue  # nothing retrieved holds the answer: the question teaches nothing here
        x += [c.features for c in cands]
        y += labels
    return x, y


def unanswerable_variants(assistant: Assistant, items: list[dict[str, Any]],
                          seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    corpus_text = " ".join(c.text for c in assistant.store.all_chunks()).lower()
    absent_places = [p.name for p in municipalities() if p.name.lower() not in corpus_text]
    absent_years = [str(y) for y in range(1990, 2036) if str(y) not in corpus_text]
    out: list[str] = []
    for item in items:
        if item["type"] == "unanswerable":
            continue
        text = item["question"]
        lang = "en" if item.get("lang") == "en" else "sv"
        places = find_places(text, {"kommun"})
        if places:
            m = places[0]
            out.append(text[: m.start] + rnd.choice(absent_places) + text[m.end :])
        years = _YEAR.findall(text)
        if years:
            out.append(text.replace(years[0], rnd.choice(absent_years)))
        names = Question.parse(text).entities
        if names:
            name = names[0].capitalize()
            chunks_with = [c for c in re.split(r"\n\n", corpus_text) if names[0] in c]
            if not any(w in c for c in chunks_with for w in ("invånare", "inhabitants")):
                out.append(rnd.choice(_ATTRIBUTES[lang]).format(x=name))
    return list(dict.fromkeys(out))


def refusal_rows(assistant: Assistant, items: list[dict[str, Any]],
                 model: AnswerModel) -> tuple[list[Any], list[int]]:
    composer = assistant.composer(model)
    x, y = [], []
    questions = [(i["question"], int(i["type"] == "unanswerable")) for i in items]
    questions += [(t, 1) for t in unanswerable_variants(assistant, items)]
    for text, label in questions:
        q = Question.parse(text)
        if q.wants_list:
            continue  # lists are refused by their own check (no entity on the topic)
        q, hits, qvec = assistant.understand(q)
        _, cands, feats = composer.rank(q, hits, qvec)
        if not cands:
            continue
        x.append(feats)
        y.append(label)
    return x, y


# The refusal model has about 150 rows for 13 related features: with the default
# regularisation its weights swung from one refit to the next and took signs against their
# meaning (more coverage, more refusals); at C=0.1 they are steadier and both sets are answered
# the same, held apart and shipped (docs/benchmarks.md, seventh round).
REFUSAL_C = 0.1


def fit(x: list[Any], y: list[int], names: tuple[str, ...], c: float = 1.0) -> Logistic:
    arr = np.asarray(x, dtype=np.float64)
    mean, scale = arr.mean(axis=0), arr.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    lr.fit((arr - mean) / scale, y)
    return Logistic(names, mean, scale, lr.coef_[0], float(lr.intercept_[0]))


def out_of_fold(x: list[Any], y: list[int], folds: int = 5) -> Any:
    """Each row's refusal probability from a model fitted without it (stratified folds): the
    threshold is chosen on these, since on its own fitting rows a model looks surer than it
    is on questions it has not seen."""
    arr = np.asarray(x, dtype=np.float64)
    mean, scale = arr.mean(axis=0), arr.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=REFUSAL_C, class_weight="balanced", max_iter=2000)
    splits = min(folds, min(sum(y), len(y) - sum(y)))
    runs = [cross_val_predict(lr, (arr - mean) / scale, y, method="predict_proba",
                              cv=StratifiedKFold(n_splits=splits, shuffle=True,
                                                 random_state=seed))[:, 1]
            for seed in range(REPEATS)]
    return np.mean(runs, axis=0)


def pr_table(model: Logistic | Any, x: list[Any], y: list[int]) -> tuple[str, float]:
    """Refusal precision/recall over thresholds, and the threshold with at most 4 % false
    refusals of answerable questions and the highest recall (the other checks of the answer
    step refuse some answerable questions too, and the target is 5 % in all). `model` may be
    the probabilities themselves (out of fold)."""
    p = model.prob(x) if isinstance(model, Logistic) else np.asarray(model)
    labels = np.asarray(y)
    rows = ["| threshold | refused (recall) | precision | false refusals |", "|---|---|---|---|"]
    best = 0.5
    best_recall = -1.0
    for t in np.arange(0.1, 0.96, 0.05):
        refused = p >= t
        tp = int((refused & (labels == 1)).sum())
        recall = tp / max(1, int((labels == 1).sum()))
        precision = tp / max(1, int(refused.sum()))
        false = int((refused & (labels == 0)).sum()) / max(1, int((labels == 0).sum()))
        rows.append(f"| {t:.2f} | {recall:.3f} | {precision:.3f} | {false:.3f} |")
        if false <= MAX_FALSE_REFUSALS and recall > best_recall:
            best, best_recall = float(t), recall
    return "\n".join(rows), best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", action="append", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--score", type=Path, help="a set to tabulate refusal precision/recall on")
    args = ap.parse_args()
    sets = [(folder, assistant_for(folder), load_qa(folder / "qa.jsonl")) for folder in args.set]
    ex: list[Any] = []
    ey: list[int] = []
    for _, assistant, items in sets:
        x, y = evidence_rows(assistant, items)
        ex += x
        ey += y
    evidence = fit(ex, ey, FEATURES)
    rx: list[Any] = []
    ry: list[int] = []
    for _, assistant, items in sets:
        x, y = refusal_rows(assistant, items, AnswerModel(evidence, zero_model().refusal, {}))
        rx += x
        ry += y
    refusal = fit(rx, ry, REFUSAL_FEATURES, REFUSAL_C)
    table, _ = pr_table(refusal, rx, ry)
    oof_table, threshold = pr_table(out_of_fold(rx, ry), rx, ry)
    refusal = Logistic(refusal.names, refusal.mean, refusal.scale, refusal.coef,
                       refusal.intercept, threshold)
    meta = {"sets": [f.name for f in args.set], "embedder": sets[0][1].embedder.name,
            "evidence_rows": len(ey),
            "evidence_positive": int(sum(ey)), "refusal_rows": len(ry),
            "refusal_positive": int(sum(ry))}
    out = {"meta": meta, "evidence": evidence.to_json(), "refusal": refusal.to_json()}
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(meta))
    print("evidence weights:", dict(zip(FEATURES, np.round(evidence.coef, 2), strict=True)))
    print("refusal weights:", dict(zip(REFUSAL_FEATURES, np.round(refusal.coef, 2), strict=True)))
    print(f"\nrefusal on the fitted sets\n{table}")
    print(f"\nrefusal out of fold on the fitted sets (threshold chosen: {threshold:.2f})\n"
          f"{oof_table}")
    if args.score:
        assistant = assistant_for(args.score)
        items = load_qa(args.score / "qa.jsonl")
        x, y = refusal_rows(assistant, items, AnswerModel(evidence, refusal, {}))
        held, _ = pr_table(refusal, x, y)
        print(f"\nrefusal on {args.score.name} (held apart, {sum(y)} of {len(y)} unanswerable)")
        print(held)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
