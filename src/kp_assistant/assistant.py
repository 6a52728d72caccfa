"""The composition root: wires store, embedder, retriever and composer together."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kp_assistant.documents.ocr import CACHE_DIR as OCR_CACHE_DIR
from kp_assistant.documents.ocr import OcrOptions
from kp_assistant.embedding import Embedder, embedder_name, make_embedder
from kp_assistant.embedding.engines import keep_index_engine
from kp_assistant.errors import CorruptIndex, EmptyIndex
from kp_assistant.index.store import Store
from kp_assistant.ingest import EventHandler, Ingestor
from kp_assistant.models import Answer, Citation, Hit, IngestSummary
from kp_assistant.registry.storage import RegistryFile
from kp_assistant.retrieval.hybrid import Retriever, per_year
from kp_assistant.settings import Settings

__all__ = ["Assistant"]
log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from kp_assistant.answering.compose import Composer
    from kp_assistant.answering.evidence import AnswerModel
    from kp_assistant.answering.llm_answer import Writer
    from kp_assistant.answering.question import Question
    from kp_assistant.answering.sentences import SentenceVectors
    from kp_assistant.registry.peers import Peer
    from kp_assistant.registry.records import PartnershipGroup

class Assistant:
    def __init__(self, store: Store, embedder: Embedder | Callable[[], Embedder],
                 settings: Settings | None = None, *, embedder_id: str | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store
        self.registry = RegistryFile(store.index_dir)  # the partnerships found at ingest
        self._embedder = embedder
        self._lock = threading.Lock()
        self._stop = threading.Event()  # ends a running ingest at its next file
        self._writer: Writer | None = None
        self._vectors: SentenceVectors | None = None
        self._warming: threading.Thread | None = None
        self._warm_again = False
        self.embedder_id = embedder_id or (
            embedder.name if isinstance(embedder, Embedder) else embedder_name(self.settings)
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, rebuild: bool = False) -> Assistant:
        """The assistant over the configured index. With the `auto` backend an existing index
        keeps the engine that built it, unless it is about to be rebuilt."""
        store = Store.from_settings(settings)
        try:
            built = None if rebuild or not store.manifest.files else store.manifest.embedder
        except CorruptIndex:  # reported on first use; `ingest --rebuild` repairs it
            built = None
        settings = keep_index_engine(settings, built)
        return cls(store, lambda: make_embedder(settings), settings,
                   embedder_id=embedder_name(settings))

    @property
    def embedder(self) -> Embedder:
        with self._lock:  # several chat users may arrive before the model is loaded
            if not isinstance(self._embedder, Embedder):
                self._embedder = self._embedder()
            return self._embedder

    @property
    def corpus_root(self) -> Path | None:
        root = self.store.manifest.root
        return Path(root) if root else None

    def ingest(self, paths: Sequence[Path] | None = None, *, rebuild: bool = False,
               on_event: EventHandler | None = None) -> IngestSummary:
        s = self.settings
        ingestor = Ingestor(self.store, lambda: self.embedder, self.embedder_id,
                            chunk_words=s.chunk_words, overlap=s.chunk_overlap,
                            read_timeout=s.read_timeout, read_memory_mb=s.read_memory_mb,
                            read_max_chars=s.read_max_chars, stop=self._stop,
                            embed_timeout=s.embed_timeout, registry=self.registry,
                            ocr=self.ocr_options(), ocr_timeout=s.ocr_timeout,
                            ocr_min_confidence=s.ocr_min_confidence)
        return ingestor.run(paths or [s.corpus_dir], rebuild=rebuild, on_event=on_event)

    def stop_ingest(self) -> None:
        """Make a running (and any later) ingest stop at its next file: for shutdown."""
        self._stop.set()

    def ocr_options(self) -> OcrOptions:
        s = self.settings
        return OcrOptions(enabled=s.ocr == "on", dpi=s.ocr_dpi,
                          cache_dir=self.store.index_dir / OCR_CACHE_DIR)

    def ask(self, question: str, history: Sequence[str] = (), *, llm: bool = True) -> Answer:
        """The answer, written by the language model when one is configured and `llm` is on."""
        answer = self.extractive(question, history)
        writer = self.writer if llm else None
        if writer is None:
            return answer
        from kp_assistant.answering.llm_answer import is_writable

        return writer.write(answer) if is_writable(answer) else answer

    @property
    def writer(self) -> Writer | None:
        """The language-model writer of KP_LLM_PROVIDER, or None (the default: none)."""
        if self.settings.llm_provider == "none":
            return None
        with self._lock:
            if self._writer is None:
                from kp_assistant.answering.llm import make_llm, model_label
                from kp_assistant.answering.llm_answer import Writer

                self._writer = Writer(make_llm(self.settings), self.store.get,
                                      model=model_label(self.settings),
                                      timeout=self.settings.llm_timeout)
            return self._writer

    def retrieve(self, question: str, k: int) -> list[Hit]:
        """The hybrid retriever's own k best passages for a question, as `ask` would search."""
        from kp_assistant.answering.question import Question, expand_query

        q = Question.parse(question)
        return self._retriever().search(question, k=k, keyword_query=expand_query(q), lang=q.lang)

    def _retriever(self) -> Retriever:
        from kp_assistant.answering.evidence import chunk_language

        s = self.settings
        return Retriever(self.store, self.embedder, dense_weight=s.dense_weight,
                         keyword_weight=s.keyword_weight, rrf_k=s.rrf_k, language_of=chunk_language)

    def extractive(self, question: str, history: Sequence[str] = ()) -> Answer:
        """The answer composed from the documents' own sentences."""
        question = question.strip()
        if self.store.is_empty():
            raise EmptyIndex(str(self.store.index_dir))
        self.store.check_embedder(self.embedder_id)
        from kp_assistant.answering.followup import contextualise
        from kp_assistant.answering.intent import detect_language, small_talk, small_talk_reply
        from kp_assistant.answering.parts import join_answers, split_parts

        resolved = contextualise(question, history)
        started = time.perf_counter()
        kind = small_talk(question)
        if kind is not None:  # "Tack!" is answered, not searched for
            text = small_talk_reply(kind, detect_language(question))
            reply = Answer(question=question, text=text, grounded=True)
            return self._timed(reply, question, question, started, time.perf_counter())
        parts = split_parts(resolved)
        if len(parts) > 1:  # "vem … och vad …": each part answered with its own citations
            answers = [self._single(part) for part in parts]
            joined = join_answers(resolved, parts, [a for a, _ in answers])
            return self._timed(joined, question, resolved, started, answers[-1][1])
        answer, retrieved = self._single(resolved)
        return self._timed(answer, question, resolved, started, retrieved)

    def _single(self, resolved: str) -> tuple[Answer, float]:
        """The answer to one standalone question, and when its retrieval was done."""
        # imported here: `ingest` alone should not pay for the answer machinery at start-up
        from kp_assistant.answering.question import Question
        from kp_assistant.answering.rules import asks_for_countries
        from kp_assistant.registry.aggregate import (
            answer_both,
            answer_from_registry,
            asks_both,
            both_sources,
        )
        from kp_assistant.registry.peers import answer_peers, is_peer_request

        q = Question.parse(resolved)
        groups = self.registry.partnerships()
        listed = None
        searched: tuple[list[Hit], Any] | None = None
        if q.wants_list and not asks_for_countries(q):
            # the retriever's order of passages orders the registry's lines and sources
            q, hits, qvec = self.understand(q)
            searched = (hits, qvec)
            ranks = {h.chunk.id: i for i, h in enumerate(hits)}
            listed = answer_from_registry(q, groups, self._in_corpus, ranks) or (
                answer_both(q, self.store.chunks_of(both_sources(q, self.store.first_chunks())))
                if asks_both(q) else None
            )
        elif is_peer_request(q.text):
            listed = answer_peers(q, groups, self.embedder)
        if listed is not None and listed.grounded and searched is not None:
            # a sentence naming several of the set at once may say more than the registry
            listed = self.composer().named_together(q, *searched, listed)
        if listed is not None and not listed.grounded and not listed.related:
            # no partnership matches: still show the passages closest to the question
            from kp_assistant.answering.citing import related_citations

            listed.related = related_citations((searched or self.search(q))[0])
        if listed is not None:
            return listed, time.perf_counter()
        if searched is None:
            q, hits, qvec = self.understand(q)
        else:
            hits, qvec = searched
        retrieved = time.perf_counter()
        return self.composer().compose(q, hits, qvec), retrieved

    def _in_corpus(self, word: str) -> bool:
        """Whether any indexed passage uses the word (stemmed as the keyword index does)."""
        from kp_assistant.index.keyword import tokenize

        df = self.store.keyword().df
        return any(df.get(t, 0) > 0 for t in tokenize(word))

    def understand(self, q: Question) -> tuple[Question, list[Hit], Any]:
        """`search`, and again with synonyms for words the passages lack
        (`answering/synonyms.py`): the question as read, its passages and its vector."""
        from kp_assistant.answering.synonyms import search_with_synonyms
        from kp_assistant.language.thesaurus import load

        return search_with_synonyms(q, self.search, self.store.keyword().df,
                                    lambda: load(self.settings.thesaurus))

    def search(self, q: Question, *, vector: Any = None) -> tuple[list[Hit], Any]:
        """The passages the answer step reads for a parsed question, and the query's vector
        (`vector`: the one an earlier search of the same text computed)."""
        from kp_assistant.answering.question import expand_query

        retriever = self._retriever()
        # a list must be complete, so it looks further down the ranking
        k = self.settings.top_k * (3 if q.wants_list else 1)
        hits = retriever.search(q.text, k, keyword_query=expand_query(q), vector=vector,
                                lang=q.lang, more_documents=self.settings.more_documents)
        qvec = retriever.last_vector
        if len(set(q.years)) > 1:
            hits = per_year(retriever, q.years, q.text, hits, k, q.lang)
        return hits, qvec

    def composer(self, model: AnswerModel | None = None, *, dense_all: bool = False) -> Composer:
        """The answer step over this index; `model` overrides the configured one."""
        from kp_assistant.answering.compose import Composer
        from kp_assistant.answering.evidence import load_model

        keyword = self.store.keyword()
        return Composer(keyword.df, len(keyword.ids),
                        model=model or load_model(self.settings.answer_model),
                        vectors=self.sentence_vectors,
                        refusal_threshold=self.settings.refusal_threshold, dense_all=dense_all,
                        further_reading=self.settings.further_reading,
                        neighbour=self.store.next_chunk,
                        country_lists=self.registry.country_lists())

    @property
    def sentence_vectors(self) -> SentenceVectors:
        """The evidence model's sentence vectors, kept across questions and in the index."""
        from kp_assistant.answering.sentences import FILE_NAME, SentenceVectors

        embedder = self.embedder  # first: it takes the lock itself
        with self._lock:
            if self._vectors is None:
                self._vectors = SentenceVectors(embedder, path=self.store.index_dir / FILE_NAME)
            return self._vectors

    def warm_sentences(self) -> int:
        """Compute the vectors of every sentence of the index not yet known (see
        `answering/sentences.py`); stops early at shutdown (`stop_ingest`). Returns how many
        it made."""
        from kp_assistant.answering.sentences import candidate_lines

        lines = (ln for c in self.store.all_chunks() for _, ln in candidate_lines(c.text))
        return self.sentence_vectors.warm(lines, stop=self._stop)

    def warm_sentences_later(self) -> threading.Thread:
        """`warm_sentences` in a background thread; asked again while it runs (after another
        ingest), it goes over the index once more when done."""
        with self._lock:
            self._warm_again = True
            if self._warming is not None and self._warming.is_alive():
                return self._warming

            def run() -> None:
                while True:
                    with self._lock:
                        if not self._warm_again:
                            self._warming = None
                            return
                        self._warm_again = False
                    try:
                        made = self.warm_sentences()
                        log.info("sentence vectors: %d computed", made)
                    except Exception as exc:  # an empty or damaged index: reported elsewhere
                        log.debug("sentence vectors not computed: %s", exc)

            self._warming = threading.Thread(target=run, name="kp-sentences", daemon=True)
            self._warming.start()
            return self._warming

    def _timed(self, answer: Answer, question: str, resolved: str, started: float,
               retrieved: float) -> Answer:
        answer.citations = [self._mark_ocr(c) for c in answer.citations]
        answer.related = [self._mark_ocr(c) for c in answer.related]
        done = time.perf_counter()
        answer.question = question
        answer.resolved_question = resolved
        answer.timings_ms = {
            "retrieve": (retrieved - started) * 1000,
            "answer": (done - retrieved) * 1000,
            "total": (done - started) * 1000,
        }
        return answer

    def _mark_ocr(self, c: Citation) -> Citation:
        """A citation of a page read by OCR says so, with the page's confidence."""
        record = self.store.manifest.files.get(c.source)
        conf = record.ocr.get(str(c.page)) if record and c.page else None
        if conf is None:
            return c
        return replace(c, ocr=True, ocr_confidence=conf,
                       ocr_uncertain=conf < self.settings.ocr_min_confidence)

    def peers(self, challenge: str, k: int = 8) -> list[Peer]:
        """Partnerships that worked on a challenge like the one described, best first."""
        from kp_assistant.registry.peers import find_peers

        return find_peers(challenge, self.registry.partnerships(), self.embedder, k)

    def partnerships(self, *, theme: str | None = None, country: str | None = None,
                     year: int | None = None, text: str | None = None) -> list[PartnershipGroup]:
        """The registry, filtered; every filter given must match."""
        from kp_assistant.registry.records import filter_groups

        return filter_groups(self.registry.partnerships(), theme=theme, country=country, year=year,
                             text=text)

    def resolve_source(self, source: str) -> Path | None:
        """The file behind a citation, only if it is an indexed file inside the corpus root."""
        root = self.corpus_root
        if root is None or source not in self.store.manifest.files:
            return None
        path = (root / source).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            return None
        return path

    def stats(self) -> dict[str, Any]:
        m = self.store.manifest
        summary = m.summary(self.settings.ocr_min_confidence)
        return {"index": str(self.store.index_dir), "corpus": summary.pop("corpus"),
                "embedder": m.embedder or self.embedder_id, **summary}
