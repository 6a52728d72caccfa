"""The "Partnerskap" tab: the partnership registry as a filterable table, a CSV and a peer finder.

Every text shown here comes from documents, so the table escapes it with html.escape and the
peer list with the chat's Markdown escaping; the helpers are pure so tests can call them.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import gradio as gr

from kp_assistant.errors import KPError
from kp_assistant.models import Citation
from kp_assistant.registry import records as registry
from kp_assistant.registry.records import PartnershipGroup
from kp_assistant.registry.themes import taxonomy
from kp_assistant.web.markup import document_url
from kp_assistant.web.markup import escape as _escape

if TYPE_CHECKING:
    from kp_assistant.assistant import Assistant
    from kp_assistant.registry.peers import Peer

logger = logging.getLogger(__name__)

ALL = "Alla"
COLUMNS = ("Svensk part", "Partner", "Land", "Teman", "År", "Källor")
CSV_NAME = "partnerskap.csv"
EMPTY_INDEX = (
    "Kunskapsbasen är tom: inga dokument har lagts in ännu, så det finns inga partnerskap att "
    "visa. Be den som driftar tjänsten att läsa in dokumenten (kp-assistant ingest)."
)
NO_PARTNERSHIPS = "Inga partnerskap hittades i de inlästa dokumenten."
NO_MATCH = "Inga partnerskap matchar filtren. Välj ”Alla” eller töm sökrutan för att se fler."
FAILURE = "Partnerskapen kunde inte läsas just nu. Försök gärna igen om en stund."
ASK_CHALLENGE = "_Beskriv utmaningen med några ord, t.ex. ”vi vill minska nedskräpningen”._"
NO_PEERS = (
    "_Hittade inga partnerskap som arbetat med något liknande. Pröva att beskriva utmaningen "
    "med andra ord, t.ex. ”avfall”, ”dricksvatten” eller ”jämställdhet”._"
)
CLOSEST_ONLY = (
    "_Inga partnerskap delar teman med beskrivningen; de här ligger närmast i betydelse:_"
)
_CSS = """
table { width: 100%; border-collapse: collapse; font-size: 0.9em; }
th { position: sticky; top: 0; background: var(--background-fill-secondary); text-align: left; }
th, td { padding: 4px 8px; border: 0; border-bottom: 1px solid var(--border-color-primary);
         vertical-align: top; }
td.kallor a { white-space: nowrap; }
"""


class SourceLink(NamedTuple):
    label: str  # "fil.pdf s. 3"
    url: str
    passages: tuple[str, ...]  # the sentences on that page that mention the partnership


class Loaded(NamedTuple):
    """The filtered groups, or the message to show instead of a table."""

    groups: list[PartnershipGroup]
    message: str | None


def chosen(value: str | None) -> str | None:
    """A dropdown or textbox value as a filter: "Alla" and blank mean no filter."""
    value = (value or "").strip()
    return None if value in ("", ALL) else value


def load(
    assistant: Assistant,
    theme: str | None = None,
    country: str | None = None,
    year: str | None = None,
    text: str | None = None,
) -> Loaded:
    """The registry filtered by the tab's controls, with a friendly message when empty."""
    try:
        if assistant.store.is_empty():
            return Loaded([], EMPTY_INDEX)
        if not assistant.partnerships():
            return Loaded([], NO_PARTNERSHIPS)
        year_filter = chosen(year)
        groups = assistant.partnerships(
            theme=chosen(theme),
            country=chosen(country),
            year=int(year_filter) if year_filter and year_filter.isdigit() else None,
            text=chosen(text),
        )
    except KPError as exc:
        return Loaded([], str(exc))
    except Exception:
        logger.exception("reading the partnership registry failed")
        return Loaded([], FAILURE)
    return Loaded(groups, None if groups else NO_MATCH)


def filter_choices(groups: Sequence[PartnershipGroup]) -> tuple[list[str], list[str], list[str]]:
    """Choices for the theme, country and year dropdowns, each starting with "Alla"."""
    countries = sorted({g.country for g in groups if g.country}, key=str.casefold)
    years = sorted({str(y) for g in groups for y in g.years}, reverse=True)
    return [ALL, *(t.key for t in taxonomy())], [ALL, *countries], [ALL, *years]


def keep_choice(value: str | None, options: Sequence[str]) -> str:
    """The chosen value if it is still offered, else "Alla"."""
    return value if value is not None and value in options else ALL


def link_for(source: str, page: int | None, passages: tuple[str, ...] = ()) -> SourceLink:
    """A link to the cited page of an indexed document, labelled "fil.pdf s. 3"."""
    label = f"{Path(source).name} s. {page}" if page else Path(source).name
    return SourceLink(label, document_url(Citation(0, source, page, "", "", 0.0)), passages)


def source_links(group: PartnershipGroup) -> list[SourceLink]:
    """One link per document page that mentions the partnership, in order of mention."""
    pages: dict[tuple[str, int | None], list[str]] = {}
    for m in group.sources:
        pages.setdefault((m.source, m.page), []).append(m.sentence)
    return [link_for(src, page, tuple(dict.fromkeys(ps))) for (src, page), ps in pages.items()]


def table_cells(group: PartnershipGroup) -> list[str]:
    """The plain text of a row, in COLUMNS order; Källor as its link labels."""
    return [
        " + ".join(group.swedish),
        group.partner,
        group.country,
        ", ".join(group.themes),
        ", ".join(map(str, group.years)),
        "; ".join(s.label for s in source_links(group)),
    ]


def _link_html(link: SourceLink) -> str:
    tip = "\n\n".join(" ".join(p.split()) for p in link.passages)
    return (
        f'<a href="{html.escape(link.url)}" target="_blank" rel="noopener" '
        f'title="{html.escape(tip)}">{html.escape(link.label)}</a>'
    )


def table_html(loaded: Loaded) -> str:
    """The table as HTML, every document text escaped; the message instead when empty."""
    if loaded.message:
        return f'<p class="kp-message">{html.escape(loaded.message)}</p>'
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    rows = []
    for g in loaded.groups:
        cells = [f"<td>{html.escape(c)}</td>" for c in table_cells(g)[:-1]]
        links = "<br>".join(_link_html(s) for s in source_links(g))
        rows.append(f'<tr>{"".join(cells)}<td class="kallor">{links}</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def count_line(loaded: Loaded) -> str:
    """ "7 partnerskap i 5 dokument"."""
    if loaded.message and not loaded.groups:
        return "0 partnerskap" if loaded.message == NO_MATCH else ""
    documents = {d for g in loaded.groups for d in g.documents}
    return f"{len(loaded.groups)} partnerskap i {len(documents)} dokument"


def write_csv(groups: Sequence[PartnershipGroup]) -> Path | None:
    """The groups as partnerskap.csv in a folder named by its content, so that concurrent
    users never overwrite each other's file and repeated downloads reuse one file."""
    if not groups:
        return None
    text = registry.rows_to_csv(registry.to_rows(groups))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "kp-assistant-csv" / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CSV_NAME
    if not path.exists():
        fd, partial = tempfile.mkstemp(dir=folder, prefix=".partial-")
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as out:
            out.write(text)  # the BOM makes Excel read å, ä and ö right
        os.replace(partial, path)
    return path


def peers_markdown(peers: Sequence[Peer]) -> str:
    """The peer finder's ranked list: each partnership, its shared themes and its passage."""
    shown = [p for p in peers if p.shared] or [p for p in peers if p.score > 0]
    if not shown:
        return NO_PEERS
    parts = [] if shown[0].shared else [CLOSEST_ONLY]
    for i, p in enumerate(shown, start=1):
        g, m = p.group, p.passage
        where = f" ({_escape(g.country)})" if g.country else ""
        shared = ", ".join(p.shared) or "inga"
        link = link_for(m.source, m.page)
        parts.append(
            f"**{i}. {_escape(' + '.join(g.swedish))} – {_escape(g.partner)}**{where}  \n"
            f"Delade teman: {_escape(shared)}\n\n> {_escape(m.sentence)}\n\n"
            f"[{_escape(link.label)}]({link.url})"
        )
    return "\n\n".join(parts)


class PartnershipsView:
    """The tab's event handlers."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant

    def show(
        self, theme: str | None, country: str | None, year: str | None, text: str | None
    ) -> tuple[str, str, Path | None]:
        """Count line, table and CSV file for the filters."""
        loaded = load(self.assistant, theme, country, year, text)
        return count_line(loaded), table_html(loaded), write_csv(loaded.groups)

    def choices(self) -> tuple[list[str], list[str], list[str]]:
        return filter_choices(load(self.assistant).groups)

    def find_peers(self, challenge: str | None) -> str:
        challenge = (challenge or "").strip()
        if not challenge:
            return ASK_CHALLENGE
        loaded = load(self.assistant)
        if not loaded.groups:
            return _escape(loaded.message or NO_PARTNERSHIPS)
        try:
            return peers_markdown(self.assistant.peers(challenge))
        except KPError as exc:
            return _escape(str(exc))
        except Exception:
            logger.exception("finding peers for %r failed", challenge)
            return _escape(FAILURE)


def partnerships_tab(assistant: Assistant) -> gr.Tab:
    """The "Partnerskap" tab; call inside a gr.Blocks."""
    view = PartnershipsView(assistant)
    themes, countries, years = view.choices()
    count, table, csv_path = view.show(ALL, ALL, ALL, "")
    tab = gr.Tab("Partnerskap", id="partnerskap")
    with tab:
        gr.Markdown(
            "Alla partnerskap som nämns i dokumenten. Filtrera, sök och ladda ner listan; "
            "källorna öppnar stället i dokumentet där partnerskapet nämns."
        )
        with gr.Row(equal_height=True):
            theme = gr.Dropdown(themes, value=ALL, label="Tema", scale=2)
            country = gr.Dropdown(countries, value=ALL, label="Land", scale=2)
            year = gr.Dropdown(years, value=ALL, label="År", scale=1, min_width=100)
            text = gr.Textbox(label="Sök", placeholder="t.ex. Kalix, Masaka eller vatten", scale=3)
        with gr.Row(equal_height=True):
            counter = gr.Markdown(count)
            show_all = gr.Button("Visa alla", size="sm", scale=0, min_width=110)
            download = gr.DownloadButton(
                "Ladda ner CSV",
                value=csv_path,
                size="sm",
                scale=0,
                min_width=150,
                interactive=csv_path is not None,
            )
        listing = gr.HTML(table, css_template=_CSS, max_height=620, padding=False)

        with gr.Column(variant="panel"):
            gr.Markdown("### Hitta liknande partnerskap")
            challenge = gr.Textbox(
                label="Beskriv er lokala utmaning",
                lines=2,
                placeholder="t.ex. ”vi vill minska nedskräpningen och få unga att engagera sig”",
            )
            search_peers = gr.Button("Hitta liknande partnerskap", variant="primary")
            peers = gr.Markdown()

    filters = [theme, country, year, text]
    private: dict[str, Any] = {"api_visibility": "private"}

    def update(*values: str) -> tuple[str, str, Any]:
        count, table, path = view.show(*values)
        return count, table, gr.DownloadButton(value=path, interactive=path is not None)

    def refresh(*values: str) -> tuple[Any, ...]:
        """New choices after an ingest; a chosen value that went away falls back to "Alla"."""
        options = view.choices()
        kept = [keep_choice(v, o) for v, o in zip(values[:3], options, strict=True)]
        dropdowns = [gr.Dropdown(choices=o, value=v) for o, v in zip(options, kept, strict=True)]
        return (*dropdowns, *update(*kept, values[3]))

    gr.on(
        [theme.change, country.change, year.change, text.change],
        update,
        filters,
        [counter, listing, download],
        trigger_mode="always_last",
        **private,
    )
    show_all.click(lambda: (ALL, ALL, ALL, ""), None, filters, queue=False, **private)
    tab.select(refresh, filters, [theme, country, year, counter, listing, download], **private)
    for trigger in (search_peers.click, challenge.submit):
        trigger(view.find_peers, [challenge], [peers], show_progress="minimal", **private)
    return tab
