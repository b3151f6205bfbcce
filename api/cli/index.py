"""CLI commands: ``keel index`` (embed text records) and ``keel search`` (semantic search)."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from keel.api.cli.common import console, make_runtime, progress
from keel.api.services.indexing import IndexRequest, IndexResult, index_documents
from keel.api.services.search import EvidenceHit, SearchQuery, UnknownAccount, search
from keel.errors import KeelError

if TYPE_CHECKING:
    from keel.memory.vectors import IndexReport

INDEX_EPILOG = """\
Examples:

  keel index                  # embed what changed since the last run

  keel index --rebuild        # drop the index and embed everything again (repairs a
                              # damaged index: its files are re-created from the database)
"""

SEARCH_EPILOG = """\
Examples:

  keel search "customers unable to log in after an identity provider change"

  keel search "pricing concerns" --account ACME-001 --kind note --kind nps

  keel search "outage" --since 2024-01-01 --until 2024-03-31 -k 20
"""

SNIPPET_CHARS = 160
PASSAGE_CHARS = 320


class KindChoice(StrEnum):
    ticket = "ticket"
    note = "note"
    nps = "nps"


class LineProgress:
    """Progress as plain, flushed lines on stdout: survives redirection to a file or a pipe.

    A line when the work starts, then at most one every ``every`` seconds (and at each
    tenth of the work when that comes sooner), and one when it ends:
    ``Embedding: 1,280 / 7,818 documents (16%), 42 s, about 3 min left``.
    """

    def __init__(
        self,
        label: str,
        unit: str,
        *,
        every: float = 15.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.unit, self.every = label, unit, every
        self.stream = stream
        self.clock = clock
        self.started: float | None = None  # the first call: loading the model is not work done
        self.last_time = -1.0
        self.last_tenth = -1
        self.ended = False

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        elapsed = now - self.started
        tenth = 10 * done // total if total else 10
        end = total > 0 and done >= total
        if self.ended or not (
            self.last_time < 0
            or end
            or tenth > self.last_tenth
            or now - self.last_time >= self.every
        ):
            return
        self.last_time, self.last_tenth, self.ended = now, tenth, end
        line = f"{self.label}: {done:,} / {total:,} {self.unit}"
        if total:
            line += f" ({100 * done // total}%)"
        line += f", {elapsed:.0f} s"
        if 0 < done < total and elapsed > 0:
            left = elapsed * (total - done) / done
            line += (
                f", about {left / 60:.0f} min left" if left >= 90 else f", about {left:.0f} s left"
            )
        print(line, file=self.stream or sys.stdout, flush=True)


@contextmanager
def embedding_progress(label: str = "Embedding") -> Iterator[Callable[[int, int], None]]:
    """``progress(done, total)`` for indexing: a bar on a terminal, plain lines otherwise."""
    if sys.stdout.isatty():
        with progress() as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
    else:
        yield LineProgress(label, "documents")


def report_table(report: IndexResult | IndexReport) -> Table:
    """The counts of one index run (``keel demo`` passes the vector store's own report)."""
    table = Table(title="Vector index", show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("count", justify="right")
    rows = [
        ("new documents", report.new),
        ("changed documents", report.changed),
        ("repaired documents", report.repaired),
        ("unchanged documents", report.unchanged),
        ("removed documents", report.removed),
        ("records written (chunks + sentences)", report.chunks_written),
        ("distinct texts embedded", report.texts_embedded),
        ("records deleted", report.chunks_deleted),
    ]
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    table.add_row("seconds", f"{report.seconds:.1f}")
    if report.chunks_written:
        table.add_row("records / second", f"{report.chunks_per_second:.1f}")
    return table


def index_command(
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Documents per committed batch.")
    ] = 256,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Drop the index and embed every record again; repairs a damaged index.",
        ),
    ] = False,
) -> None:
    """Embed tickets, call notes and NPS comments into the vector store.

    Only new or changed records are embedded; deleted records lose their chunks and
    sentences.

    An interrupted run is finished by the next one, without duplicates.
    """
    request = IndexRequest(rebuild=rebuild, batch_size=batch_size)
    runtime = make_runtime()
    with embedding_progress() as on_progress:
        report = index_documents(runtime, request, progress=on_progress)
    console.print(report_table(report))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_hits(hits: list[EvidenceHit]) -> None:
    """One block per record: the ids to cite, the sentence that matches, then the record.

    The matching sentence is printed in full (up to :data:`PASSAGE_CHARS`); the record's
    text around it follows, dimmed, when it holds more than that sentence. Near-duplicate
    records collapsed into a hit are cited on one line.
    """
    for rank, hit in enumerate(hits, start=1):
        header = Text()
        header.append(f"{rank:>2}. ", style="bold")
        header.append(f"{hit.kind}:{hit.source_id}", style="bold cyan")
        header.append(f" ({hit.external_id})  account {hit.account_external_id or hit.account_id}")
        header.append(f"  {hit.date.isoformat()}  score {hit.score:.3f}", style="dim")
        if hit.match != "meaning":
            header.append(f"  [{hit.match}]", style="green")
        passage = " ".join((hit.passage or hit.text).split())
        record = " ".join(hit.text.split())
        # Customer text is data: a Text object never interprets it as rich markup.
        console.print(header)
        console.print(Padding(Text(_clip(passage, PASSAGE_CHARS)), (0, 0, 0, 4)))
        if record != passage:
            console.print(
                Padding(Text(f"in: {_clip(record, SNIPPET_CHARS)}", style="dim"), (0, 0, 0, 4))
            )
        if hit.similar:
            shown = ", ".join(hit.similar[:5]) + (" …" if len(hit.similar) > 5 else "")
            console.print(
                Padding(
                    Text(f"+{len(hit.similar)} near-duplicate(s): {shown}", style="dim"),
                    (0, 0, 0, 4),
                )
            )


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for, in your own words.")],
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="Only this account (its external id).")
    ] = None,
    kind: Annotated[
        list[KindChoice] | None,
        typer.Option("--kind", help="Only these kinds of record (repeatable)."),
    ] = None,
    since: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Records dated on or after (YYYY-MM-DD)."),
    ] = None,
    until: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Records dated on or before (YYYY-MM-DD)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=200, help="How many records.")] = 8,
) -> None:
    """Find the tickets, call notes and NPS comments that match QUERY.

    Records that say QUERY word for word come first, then the closest in meaning and
    words. Prints each record once with the ids to cite: the sentence that matches, then
    the record around it; near-duplicate records are listed under the first.
    """
    request = SearchQuery(
        text=query,
        account=account,
        kinds=tuple(choice.value for choice in kind) if kind else None,
        since=since.date() if since else None,
        until=until.date() if until else None,
        k=k,
    )
    try:
        result = search(make_runtime(), request)
    except UnknownAccount as exc:
        raise KeelError(f"--account: {exc}") from None
    if result.hits:
        _print_hits(result.hits)
    elif result.index_empty:
        console.print("The index is empty: run `keel index` first.")
    else:
        console.print("No matching records.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("index", epilog=INDEX_EPILOG)(index_command)
    app.command("search", epilog=SEARCH_EPILOG)(search_command)
