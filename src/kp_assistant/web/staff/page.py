"""The staff area: the "Dokument" page and its JSON routes, mounted at /personal.

Everything here sits behind ui_login.StaffGuard, which answers every request under /personal
without a valid session with 401 or a redirect to the login page. The page is its own Gradio
app, so its functions do not exist in the public chat's API at all.
"""

from __future__ import annotations

import html
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import utils as gr_utils

from kp_assistant.errors import KPError
from kp_assistant.models import SUPPORTED_SUFFIXES, FileEvent, IngestSummary
from kp_assistant.web.markup import escape as _escape
from kp_assistant.web.staff.login import LOGOUT_PATH
from kp_assistant.web.staff.service import FAILURE as STAFF_FAILURE
from kp_assistant.web.staff.service import (
    STATUS_TEXT,
    DocumentRow,
    StaffError,
    StaffService,
    summary_text,
)

log = logging.getLogger(__name__)

HEADERS = ["Dokument", "Titel", "Status", "Sidor", "Avsnitt", "Anmärkning"]
EVENT_TEXT = {
    "added": "tillagt",
    "updated": "uppdaterat",
    "removed": "borttaget",
    "unchanged": "oförändrat",
    "failed": "misslyckades",
    "ocr": "läses med OCR",
    "embedding": "bäddas in",
}
FAILURE = STAFF_FAILURE
_SHOWN_EVENTS = 12
PROGRESS = gr.Progress()  # the default that makes gradio pass each call its progress bar

Update = dict[str, Any]


def table(rows: list[DocumentRow]) -> list[list[Any]]:
    return [
        [r.source, r.title, STATUS_TEXT[r.status], r.pages or "", r.chunks or "", r.reason]
        for r in rows
    ]


def overview(rows: list[DocumentRow]) -> str:
    counts = {s: sum(1 for r in rows if r.status == s) for s in STATUS_TEXT}
    parts = [f"**{counts['indexed']}** inlästa dokument"]
    parts += [
        f"**{counts[s]}** {STATUS_TEXT[s]}" for s in ("failed", "pending", "missing") if counts[s]
    ]
    return " · ".join(parts)


def _event_line(event: FileEvent) -> str:
    if event.status == "embedding":
        return f"{event.done}/{event.total}: {event.chunks} avsnitt {EVENT_TEXT['embedding']}"
    line = f"{event.done}/{event.total} {_escape(event.source)}: {EVENT_TEXT[event.status]}"
    if event.status in ("added", "updated"):
        line += f", {event.chunks} avsnitt"
    return line + (f" ({_escape(event.reason)})" if event.reason else "")


Report = Callable[[str | FileEvent], None]


class StaffHandler:
    """The page's event handlers; each yields (status, table, delete choices, overview, …).

    The work runs in one background thread, under the service's lock, and reports result
    lines and ingestion events through a queue; the handler turns them into status text.
    """

    def __init__(self, service: StaffService, *, upload_folder: Path | None = None) -> None:
        self.service = service
        # where gradio stores uploads; only files there that this session uploaded are taken
        self.upload_folder = (upload_folder or Path(gr_utils.get_upload_folder())).resolve()

    @staticmethod
    def remember(files: list[str] | None, received: list[str] | None) -> list[str]:
        """The File component's upload event: the paths this session uploaded (gr.State)."""
        return [*(received or []), *(files or [])]

    def _own(self, path: str, received: list[str] | None) -> bool:
        try:
            inside = Path(path).resolve().is_relative_to(self.upload_folder)
        except (OSError, RuntimeError):
            return False
        return inside and path in (received or [])

    def refresh(self) -> tuple[list[list[Any]], Update, str]:
        try:
            rows = self.service.documents()
        except Exception as exc:  # a damaged index: say so where the list would be
            if not isinstance(exc, KPError):
                log.error("listing the documents failed", exc_info=exc)
            return [], gr.update(choices=[], value=[]), f"**{_escape(_message(exc))}**"
        return table(rows), gr.update(choices=[r.source for r in rows], value=[]), overview(rows)

    def _done(self, status: str) -> tuple[Any, ...]:
        return (status, *self.refresh())

    def _run(
        self, job: Callable[[Report], IngestSummary | None], progress: gr.Progress
    ) -> Iterator[str]:
        """Run `job` in a thread, yielding the status text after each thing it reports."""
        reports: queue.Queue[str | FileEvent | None] = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["summary"] = job(reports.put)
            except Exception as exc:  # shown as a message; never a traceback on the page
                outcome["error"] = exc
            finally:
                reports.put(None)

        threading.Thread(target=work, name="staff-change", daemon=True).start()
        head: list[str] = []
        events: list[str] = []
        while (item := reports.get()) is not None:
            if isinstance(item, str):
                head.append(item)
            else:
                progress((item.done, max(item.total, 1)), desc=f"{item.done}/{item.total} filer")
                if item.status == "unchanged" and item.done % 50:
                    continue  # a large unchanged corpus need not redraw the page per file
                if item.status != "unchanged":
                    scan = f"{item.done}/{item.total} {_escape(item.source)}: {EVENT_TEXT['ocr']}"
                    if item.status == "ocr" and events and events[-1].startswith(scan):
                        events.pop()  # one line per scan, showing how far its OCR has come
                    elif events and events[-1].endswith(EVENT_TEXT["embedding"]):
                        events.pop()  # shown while a group embeds; its files' lines follow
                    events.append(_event_line(item))
            yield _status([*head, *events[-_SHOWN_EVENTS:]], "Arbetar …")
        lines = [*head, *events[-_SHOWN_EVENTS:]]
        error = outcome.get("error")
        if error is not None:
            if not isinstance(error, KPError):
                log.error("staff change failed", exc_info=error)
            yield _status(lines, _message(error), failed=True)
        elif outcome.get("summary") is None:
            yield _status(lines, "Inget nytt att läsa in.")
        else:
            yield _status(lines, summary_text(outcome["summary"]))

    def _stream(
        self, job: Callable[[Report], IngestSummary | None], progress: gr.Progress, *extra: Any
    ) -> Iterator[tuple[Any, ...]]:
        text = ""
        for text in self._run(job, progress):
            yield text, gr.skip(), gr.skip(), gr.skip(), *(gr.skip() for _ in extra)
        yield (*self._done(text), *extra)

    def upload(
        self,
        files: list[str] | None,
        received: list[str] | None,
        replace: bool,
        request: gr.Request,
        progress: gr.Progress = PROGRESS,
    ) -> Iterator[tuple[Any, ...]]:
        if not files:
            yield (
                *self._done(_status([], "Välj en eller flera filer först.", failed=True)),
                gr.skip(),
            )
            return
        service, user = self.service, request.username

        def job(report: Report) -> IngestSummary | None:
            saved = 0
            with service.changing():
                for path in files:
                    name = Path(path).name
                    if not self._own(path, received):
                        # a path a client made up, not a file it uploaded: never read it
                        log.warning("%s: refused upload path %r", user, path)
                        report(f"✗ {_escape(name)}: filen laddades inte upp i den här sessionen")
                        continue
                    try:
                        with open(path, "rb") as fh:
                            result = service.save_upload(name, fh, replace=replace)
                    except StaffError as exc:
                        report(f"✗ {_escape(name)}: {_escape(str(exc))}")
                        continue
                    finally:
                        Path(path).unlink(missing_ok=True)  # gradio's temporary copy
                    log.info("%s uploaded %s (%s)", user, result.name, result.status)
                    saved += result.status != "unchanged"
                    report(f"✓ {_escape(result.message)}")
                return service.sync(on_event=report) if saved else None

        yield from self._stream(job, progress, None)

    @staticmethod
    def ask_delete(names: list[str] | None) -> tuple[Update, str]:
        if not names:
            return gr.update(visible=False), ""
        listed = ", ".join(f"”{_escape(n)}”" for n in names)
        return gr.update(visible=True), (
            f"**Ta bort {len(names)} dokument?** {listed}\n\nFilerna raderas ur dokumentmappen "
            "och ur indexet; chatten kan inte längre hänvisa till dem."
        )

    def delete(
        self, names: list[str] | None, request: gr.Request, progress: gr.Progress = PROGRESS
    ) -> Iterator[tuple[Any, ...]]:
        hidden = gr.update(visible=False)
        if not names:
            yield (*self._done(_status([], "Inga dokument valda.", failed=True)), hidden)
            return
        service, user = self.service, request.username

        def job(report: Report) -> IngestSummary | None:
            with service.changing():
                for name in names:
                    try:
                        service.delete(name)
                    except StaffError as exc:
                        report(f"✗ {_escape(str(exc))}")
                        continue
                    log.info("%s deleted %s", user, name)
                    report(f"✓ ”{_escape(name)}” togs bort ur dokumentmappen.")
                return service.sync(on_event=report)

        yield from self._stream(job, progress, hidden)

    def reindex(
        self, request: gr.Request, progress: gr.Progress = PROGRESS
    ) -> Iterator[tuple[Any, ...]]:
        log.info("%s started a re-index", request.username)
        yield from self._stream(lambda report: self.service.sync(on_event=report), progress)


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, KPError) else FAILURE


def _status(lines: list[str], last: str, *, failed: bool = False) -> str:
    end = f"**{_escape(last)}**" if failed else _escape(last)
    return "\n".join(f"- {line}" for line in lines) + ("\n\n" if lines else "") + end


def build_staff_ui(service: StaffService) -> gr.Blocks:
    """The "Dokument" page. It is not launched; `mount_staff` mounts it behind the guard."""
    handler = StaffHandler(service)
    limit = service.max_mb
    demo = gr.Blocks(
        title="Dokument – personal", analytics_enabled=False, delete_cache=(3600, 3600)
    )
    with demo:
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                gr.Markdown(
                    "# Dokument\nLadda upp, ta bort och läs in kunskapsbasens dokument. "
                    "Chatten svarar bara ur inlästa dokument. [Till chatten](/)"
                )
            with gr.Column(scale=1, min_width=180):
                user = gr.Markdown()
                gr.HTML(
                    f'<form method="post" action="{LOGOUT_PATH}">'
                    '<button class="lg secondary">Logga ut</button></form>'
                )
        with gr.Group():
            files = gr.File(
                label=f"Ladda upp dokument (högst {limit} per fil)",
                file_count="multiple",
                type="filepath",
                file_types=sorted(SUPPORTED_SUFFIXES),
            )
            replace = gr.Checkbox(label="Ersätt dokument med samma namn", value=False)
            upload = gr.Button("Ladda upp och läs in", variant="primary")
            received = gr.State([])  # what this session uploaded, kept on the server
        status = gr.Markdown("")
        summary = gr.Markdown("")
        documents = gr.Dataframe(
            headers=HEADERS,
            datatype=["str"] * 6,
            interactive=False,
            wrap=True,
            label="Dokument i kunskapsbasen",
        )
        with gr.Row():
            chosen = gr.Dropdown(
                label="Välj dokument att ta bort", multiselect=True, choices=[], scale=4
            )
            remove = gr.Button("Ta bort …", variant="stop", scale=1)
        with gr.Group(visible=False) as confirm:
            question = gr.Markdown()
            with gr.Row():
                yes = gr.Button("Ja, ta bort", variant="stop")
                no = gr.Button("Avbryt")
        with gr.Row():
            reindex = gr.Button("Läs in dokumentmappen igen")
            reload = gr.Button("Uppdatera listan", variant="secondary")
        gr.Markdown(
            f"_Tillåtna filtyper: {', '.join(sorted(SUPPORTED_SUFFIXES))}. En fil med "
            "samma namn som ett annat dokument ersätts bara om du kryssar i rutan. Inlästa "
            "dokument är öppna för alla: chatten citerar dem och länkar till dem. "
            "Du loggas ut efter en stunds inaktivitet; ladda då om sidan._"
        )

        private: dict[str, Any] = {"api_visibility": "private"}
        # one change at a time, whoever starts it
        write: dict[str, Any] = {"concurrency_id": "personal", "concurrency_limit": 1, **private}
        listing = [documents, chosen, summary]
        outputs = [status, *listing]

        def who(request: gr.Request) -> str:
            return f"Inloggad som **{html.escape(request.username or '?')}**"

        demo.load(who, None, user, **private)
        demo.load(handler.refresh, None, listing, **private)
        reload.click(handler.refresh, None, listing, **private)
        files.upload(handler.remember, [files, received], [received], **private)
        upload.click(handler.upload, [files, received, replace], [*outputs, files], **write)
        remove.click(handler.ask_delete, [chosen], [confirm, question], **private)
        no.click(lambda: gr.update(visible=False), None, confirm, **private)
        yes.click(handler.delete, [chosen], [*outputs, confirm], **write)
        reindex.click(handler.reindex, None, outputs, **write)
    demo.queue(default_concurrency_limit=4)
    return demo
