"""Plain-text and Markdown views of an Answer, shared by the CLI and the chat."""

from __future__ import annotations

from kp_assistant.models import Answer, Citation

_LABELS = {
    "sv": {"sources": "Källor", "related": "Möjligen relaterat", "page": "s."},
    "en": {"sources": "Sources", "related": "Possibly related", "page": "p."},
}


def _labels(answer: Answer) -> dict[str, str]:
    from kp_assistant.answering.question import detect_language

    return _LABELS[detect_language(answer.question)]


def cite_label(c: Citation, page_word: str = "s.") -> str:
    return f"{c.source}, {page_word} {c.page}" if c.page else c.source


def model_note(answer: Answer) -> str:
    """One line: who wrote the answer, and the number of model sentences removed."""
    removed = len(answer.dropped)
    if answer.mode == "llm":
        return (f"Skrivet av språkmodellen {answer.model}; varje mening är kontrollerad mot "
                f"sitt utdrag, {removed} {'mening' if removed == 1 else 'meningar'} togs bort.")
    if answer.model and removed:
        return (f"Språkmodellens {removed} {'mening' if removed == 1 else 'meningar'} klarade "
                "inte kontrollen; svaret är hämtat direkt ur dokumenten.")
    return ""


def answer_to_text(answer: Answer) -> str:
    labels = _labels(answer)
    lines = [answer.notice, ""] if answer.notice else []
    lines += [answer.text, ""]
    if note := model_note(answer):
        lines += [f"({note})", ""]
    if answer.citations:
        lines.append(f"{labels['sources']}:")
        for c in answer.citations:
            lines.append(f"  [{c.n}] {cite_label(c, labels['page'])}")
            lines.append(f"      “{c.quote}”")
    if answer.related:
        lines.append(f"{labels['related']}:")
        for c in answer.related:
            lines.append(f"  - {cite_label(c, labels['page'])}: “{c.quote}”")
    return "\n".join(lines).rstrip() + "\n"
