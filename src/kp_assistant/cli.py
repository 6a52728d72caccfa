"""Command line: ingest, ask, serve, stats, eval, eval-registry, partnerships, staff-password.

Each command is a thin call into the library.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from kp_assistant.errors import KPError
from kp_assistant.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def index_option(f: F) -> F:
    return click.option(
        "--index", "index_dir", type=click.Path(file_okay=False, path_type=Path),
        envvar="KP_INDEX_DIR", help="Index folder (default: index/).",
    )(f)


def user_errors(f: F) -> F:
    """Print a KPError as one line and exit 1, instead of a traceback."""
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except KPError as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyboardInterrupt as exc:
            click.echo("Interrupted; the index stays consistent, re-run to continue.", err=True)
            sys.exit(143 if isinstance(exc, Terminated) else 130)
    return wrapper  # type: ignore[return-value]


def _settings(index_dir: Path | None, **extra: Any) -> Settings:
    try:
        return load_settings(index_dir=index_dir, **extra)
    except ValidationError as exc:  # one line per the CLI's contract, naming the variable
        problems = "; ".join(
            f"KP_{'_'.join(str(p) for p in err['loc']).upper()}={err.get('input')!r}: {err['msg']}"
            for err in exc.errors()
        )
        raise KPError(f"Invalid configuration: {problems}") from exc
    except ValueError as exc:
        raise KPError(f"Invalid configuration: {' '.join(str(exc).split())}") from exc


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl+C: the run stops where it is and the index stays
    consistent (every step of an ingest run is safe to interrupt)."""


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


def llm_option(f: F) -> F:
    return click.option(
        "--llm/--no-llm", "llm", default=None,
        help="Let the language model of KP_LLM_PROVIDER write the answers (default: when one "
        "is configured), or answer extractively only.",
    )(f)


def _llm_settings(llm: bool | None) -> dict[str, Any]:
    """Settings overrides for --no-llm."""
    return {"llm_provider": "none"} if llm is False else {}


def _check_llm(settings: Settings, llm: bool | None) -> None:
    if llm and settings.llm_provider == "none":
        raise KPError("--llm needs a language model: set KP_LLM_PROVIDER (openai or ollama), "
                      "KP_LLM_MODEL and KP_LLM_BASE_URL.")


def _assistant(settings: Settings, *, rebuild: bool = False):  # type: ignore[no-untyped-def]
    from kp_assistant.assistant import Assistant

    return Assistant.from_settings(settings, rebuild=rebuild)


@click.group()
@click.version_option(package_name="kp-assistant")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
def main(verbose: bool) -> None:
    """Kommunala partnerskap assistant: answers questions from program documents, with sources."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # bm25s sets its own logger to DEBUG when it is imported (later, lazily), so its
    # index-building chatter is filtered at the handler, not only at the logger
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@index_option
@click.option("--rebuild", is_flag=True, help="Drop the index and build it from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@user_errors
def ingest(paths: tuple[Path, ...], index_dir: Path | None, rebuild: bool, as_json: bool) -> None:
    """Index PATHS (default: corpus/): add new files, update changed ones, drop deleted ones."""
    from kp_assistant.progress import ProgressPrinter

    settings = _settings(index_dir)
    assistant = _assistant(settings, rebuild=rebuild)
    _stop_on_sigterm()
    with ProgressPrinter(enabled=not as_json) as progress:
        summary = assistant.ingest(list(paths) or None, rebuild=rebuild, on_event=progress)
    if as_json:
        click.echo(json.dumps(vars(summary), ensure_ascii=False))
        return
    click.echo(
        f"added {len(summary.added)}, updated {len(summary.updated)}, "
        f"removed {len(summary.removed)}, unchanged {len(summary.unchanged)}, "
        f"failed {len(summary.failed)}; embedded {summary.chunks_embedded} chunks "
        f"({summary.chunks_total} in the index) in {summary.seconds:.1f} s"
    )
    for source, reason in summary.failed.items():
        click.echo(f"  failed: {source}: {reason}")


@main.command()
@click.argument("questions", nargs=-1, required=True)
@index_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question and line.")
@llm_option
@user_errors
def ask(questions: tuple[str, ...], index_dir: Path | None, as_json: bool,
        llm: bool | None) -> None:
    """Answer QUESTIONS from the indexed documents, with numbered sources."""
    from kp_assistant.render import answer_to_text

    settings = _settings(index_dir, **_llm_settings(llm))
    _check_llm(settings, llm)
    assistant = _assistant(settings)
    for question in questions:
        answer = assistant.ask(question)
        if as_json:
            click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
        else:
            click.echo(answer_to_text(answer))


@main.command()
@index_option
@click.option("--host", envvar="KP_HOST", help="Bind address (default 127.0.0.1).")
@click.option("--port", envvar="KP_PORT", type=int, help="Port (default 7860).")
@llm_option
@user_errors
def serve(index_dir: Path | None, host: str | None, port: int | None,
          llm: bool | None) -> None:
    """Start the chat in the browser."""
    from kp_assistant.web.startup import skip_gradio_stub_rewrite, warm_up

    settings = _settings(index_dir, host=host, port=port, **_llm_settings(llm))
    _check_llm(settings, llm)
    assistant = _assistant(settings)
    warm_up(assistant)  # runs while gradio is imported and the app is built
    skip_gradio_stub_rewrite()
    from kp_assistant.web.app import launch

    launch(assistant, settings)


@main.command()
@index_option
@click.option("--json", "as_json", is_flag=True)
@user_errors
def stats(index_dir: Path | None, as_json: bool) -> None:
    """Show what the index holds."""
    assistant = _assistant(_settings(index_dir))
    assistant.store.check()  # what the manifest lists must still be there
    info = assistant.stats()
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False, indent=1))
        return
    click.echo(f"index:     {info['index']}\ncorpus:    {info['corpus'] or '-'}\n"
               f"model:     {info['embedder']}\ndocuments: {info['documents']}\n"
               f"chunks:    {info['chunks']}")
    for source, meta in info["files"].items():
        pages = f", {meta['pages']} pages" if meta["pages"] > 1 else ""
        click.echo(f"  {source}: {meta['chunks']} chunks{pages}")
    for source, reason in info["failed"].items():
        click.echo(f"  failed: {source}: {reason}")
    for source, ocr in info["ocr"].items():
        uncertain = ocr["uncertain_pages"]
        marks = f", uncertain pages {', '.join(map(str, uncertain))}" if uncertain else ""
        click.echo(f"  OCR: {source}: {len(ocr['pages'])} pages, mean confidence "
                   f"{ocr['mean_confidence']:g}{marks}")


@main.command()
@index_option
@click.option("--theme", help="Theme, in Swedish or English (plast, avfall, waste, …).")
@click.option("--country", help="Country, in Swedish or English (Kenya, Sydafrika, …).")
@click.option("--year", type=int, help="Year the partnership is mentioned with.")
@click.option("--search", "text", help="Free text found in names, themes or passages.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the rows as CSV.")
@user_errors
def partnerships(index_dir: Path | None, theme: str | None, country: str | None,
                 year: int | None, text: str | None, as_json: bool, as_csv: bool) -> None:
    """List the partnerships found in the documents, with their sources."""
    from kp_assistant.registry.records import rows_to_csv, to_rows

    assistant = _assistant(_settings(index_dir))
    problem = None if assistant.store.is_empty() else assistant.registry.problem()
    if problem:  # an empty list would look like "no partnerships in the documents"
        raise KPError(f"The partnership list of the index cannot be read ({problem}); "
                      "`kp-assistant ingest` extracts it again.")
    rows = to_rows(assistant.partnerships(theme=theme, country=country, year=year, text=text))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    elif as_csv:
        click.echo(rows_to_csv(rows), nl=False)
    else:
        for r in rows:
            click.echo(f"{r['swedish']} – {r['partner']} ({r['country'] or '?'}) "
                       f"[{r['themes']}] {r['years']}  ({r['documents']} dokument)")
        click.echo(f"{len(rows)} partnerskap")


@main.command(name="staff-password")
@click.option("--user", help="Print 'USER:hash', a line for KP_STAFF_FILE or KP_STAFF_USERS.")
@user_errors
def staff_password(user: str | None) -> None:
    """Ask for a staff password (twice) and print its argon2id hash for the configuration."""
    from kp_assistant.web.staff.auth import check_username, hash_password

    if user:
        check_username(user, "--user")
    password = click.prompt("Lösenord", hide_input=True, confirmation_prompt="Upprepa lösenordet")
    if len(password) < 10:
        raise KPError("Lösenordet måste ha minst 10 tecken.")
    click.echo(f"{user}:{hash_password(password)}" if user else hash_password(password))


@main.command(name="eval")
# existence is checked by the library, which reports it as one line like every other error
@click.argument("qa_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--corpus", "corpus_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder with the documents the questions are about.")
@index_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the full report (every question) to this file.")
@user_errors
def evaluate(qa_file: Path, corpus_dir: Path, index_dir: Path | None,
             json_out: Path | None) -> None:
    """Answer every question of QA_FILE and report retrieval, answer and refusal quality."""
    from kp_assistant.evaluation.qa import default_index_dir, format_report, run_eval, write_rows

    settings = _settings(index_dir)
    if index_dir is None:
        # one index per evaluated corpus, so the bundled corpus' index is left alone
        settings = settings.model_copy(update={"index_dir": default_index_dir(corpus_dir)})
    report = run_eval(_assistant(settings), qa_file, corpus_dir)
    click.echo(format_report(report))
    if json_out:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        click.echo(f"full report: {json_out}")
    else:
        # the per-question rows always land somewhere, so a regression can be traced
        rows = Path(settings.index_dir) / "eval-report.jsonl"
        write_rows(rows, report)
        click.echo(f"per-question report: {rows}")


@main.command(name="eval-registry")
@click.argument("table", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--corpus", "corpus_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder with the documents the table was made from.")
@index_option
@user_errors
def eval_registry(table: Path, corpus_dir: Path, index_dir: Path | None) -> None:
    """Score the partnership registry of CORPUS against TABLE (pairs made by hand)."""
    from kp_assistant.evaluation.qa import default_index_dir
    from kp_assistant.evaluation.registry import evaluate_registry

    settings = _settings(index_dir)
    if index_dir is None:  # the same default as `eval`, so both reuse one index per corpus
        settings = settings.model_copy(update={"index_dir": default_index_dir(corpus_dir)})
    click.echo(evaluate_registry(_assistant(settings), table, corpus_dir).report())
