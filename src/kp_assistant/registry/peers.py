"""The peer finder: partnerships that worked on something like a municipality's challenge
("vi vill minska nedskräpningen …"), ranked by shared themes and by how close a sentence
about them comes to the description."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kp_assistant.answering.question import Question
from kp_assistant.embedding import Embedder
from kp_assistant.models import Answer, Citation
from kp_assistant.registry.aggregate import cite_mention, short
from kp_assistant.registry.records import Mention, PartnershipGroup
from kp_assistant.registry.themes import embedding_themes, match_themes, mentions_topic, topic_words

__all__ = ["Peer", "answer_peers", "find_peers", "is_peer_request"]

_PEER = re.compile(
    r"\b(vi vill|vi planerar|vi funderar|vi behöver|vi försöker|vår utmaning|vårt problem|"
    r"lära av|liknande|we want|we plan|we need|our challenge|learn from|similar)\b",
    re.I,
)


@dataclass(frozen=True)
class Peer:
    group: PartnershipGroup
    shared: tuple[str, ...]  # themes the challenge and the partnership share
    passage: Mention
    score: float


def is_peer_request(text: str) -> bool:
    return bool(_PEER.search(text))


def find_peers(
    challenge: str, groups: Sequence[PartnershipGroup], embedder: Embedder | None, k: int = 8
) -> list[Peer]:
    """Partnerships that worked on something like the challenge, best first.

    Score: shared themes (taxonomy, or the embedding's closest theme) plus the best
    similarity between the challenge and a sentence about the partnership.
    """
    wanted = set(match_themes(challenge))
    if embedder is not None and embedder.semantic and not wanted:
        wanted |= set(embedding_themes([challenge], embedder)[0])
    # words the challenge names that the taxonomy may lack ("om biodling")
    topic = topic_words(challenge)
    on_topic = {g.key for g in groups if topic and any(
        mentions_topic(m.sentence, topic) for m in (*g.sources, *g.context))}
    candidates = [g for g in groups if g.key in on_topic or wanted & set(g.themes)]
    candidates = candidates or list(groups)
    if not candidates:
        return []
    sims: list[list[float]] = [[0.0] * len(g.sources) for g in candidates]
    if embedder is not None and embedder.semantic:
        flat = [m.sentence for g in candidates for m in g.sources]
        q = embedder.embed_queries([challenge])[0]
        scores = embedder.embed_passages(flat) @ q
        it = iter(scores.tolist())
        sims = [[next(it) for _ in g.sources] for g in candidates]
    peers = []
    for g, sim in zip(candidates, sims, strict=True):
        best = max(range(len(sim)), key=sim.__getitem__)
        shared = tuple(t for t in g.themes if t in wanted)
        if g.key in on_topic:
            shared += tuple(" ".join(alt) for alt in topic if " ".join(alt) not in shared)
        peers.append(Peer(g, shared, g.sources[best], len(shared) + sim[best]))
    peers.sort(key=lambda p: -p.score)
    return peers[:k]


def answer_peers(
    q: Question, groups: Sequence[PartnershipGroup], embedder: Embedder | None
) -> Answer | None:
    peers = find_peers(q.text, groups, embedder, k=5)
    peers = [p for p in peers if p.shared]
    if not peers:
        return None
    citations: list[Citation] = []
    lines = []
    for p in peers:
        m = p.passage
        citations.append(cite_mention(m, len(citations) + 1, round(p.score, 3)))
        label = "delade teman" if q.lang == "sv" else "shared themes"
        where = f" ({p.group.country})" if p.group.country else ""
        lines.append(
            f"- {' + '.join(p.group.swedish)} – {p.group.partner}{where}; "
            f"{label}: {', '.join(p.shared)}: «{short(m.sentence)}» [{len(citations)}]"
        )
    head = (
        "Partnerskap som har arbetat med något liknande:"
        if q.lang == "sv"
        else "Partnerships that worked on something similar:"
    )
    return Answer(
        question=q.text, text="\n".join([head, *lines]), grounded=True, citations=citations
    )
