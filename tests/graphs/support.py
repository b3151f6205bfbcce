"""Shared helpers for the review-graph tests: a seeded book, graphs over it, drafts.

The book is the real synthetic one (``keel.memory.synth.seed_book``), seeded once per test
module; one :class:`keel.tools.account_intel.AccountIntel` scores it once and every graph of the
module shares it, so a review costs a fraction of a second on the offline model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from keel.agents.composers import offline_model
from keel.agents.context import ReviewDeps
from keel.agents.offline import OFFLINE_NOTICE
from keel.domain.policy import Policy, load_policy
from keel.graphs.review import build_review_graph
from keel.graphs.runner import Graph, ReviewResult, new_thread_id, start_review
from keel.memory.actions import Channel, ProposedAction, list_actions
from keel.memory.checkpoint import Persistence
from keel.memory.models import Account, Contact, LifecycleStage
from keel.settings import Settings
from keel.tools.account_intel import AccountIntel
from keel.tools.account_tools import AccountReader
from keel.tools.outbound.customer_text import find_internal
from keel.tools.outbound.dry_run import DryRunAdapter
from keel.tools.signals import latest_data_date

BOOK_ACCOUNTS = 40
BOOK_SEED = 11


@dataclass
class Book:
    """A seeded database and what tests share over it."""

    settings: Settings
    engine: Engine
    as_of: dt.date
    policy: Policy
    intel: AccountIntel
    handed_out: set[int] = field(default_factory=set)

    def reader(self, *, hits: int = 6) -> AccountReader:
        return AccountReader(self.engine, intel=self.intel, hits=hits)

    def deps(
        self, *, adapters: Mapping[str, Any] | None = None, label: str = "offline:keel-offline-1"
    ) -> ReviewDeps:
        return ReviewDeps(
            engine=self.engine,
            settings=self.settings,
            policy=self.policy,
            model_label=label,
            adapters=dict(adapters) if adapters is not None else dry_run_adapters(self.settings),
            as_of=self.as_of,
        )

    def active_accounts(self) -> list[Account]:
        with Session(self.engine) as session:
            rows = session.exec(select(Account).order_by(col(Account.id))).all()
        return [a for a in rows if a.lifecycle_stage != LifecycleStage.CHURNED and a.arr > 0]

    def contacts(self, account_id: int) -> list[Contact]:
        with Session(self.engine) as session:
            return list(session.exec(select(Contact).where(Contact.account_id == account_id)).all())


def seed(engine: Engine, settings: Settings, *, n_accounts: int = BOOK_ACCOUNTS) -> Book:
    from keel.memory.synth import seed_book

    seed_book(engine, n_accounts=n_accounts, seed=BOOK_SEED)
    as_of = latest_data_date(engine)
    assert as_of is not None
    return Book(
        settings=settings,
        engine=engine,
        as_of=as_of,
        policy=load_policy(),
        intel=AccountIntel(engine),
    )


def dry_run_adapters(settings: Settings) -> dict[str, Any]:
    dry = DryRunAdapter(settings.outbox_dir, sender=settings.smtp_from)
    return {str(c): dry for c in Channel}


def compile_graph(
    book: Book,
    persistence: Persistence,
    *,
    model: BaseChatModel | None = None,
    adapters: Mapping[str, Any] | None = None,
    reader: AccountReader | None = None,
    label: str = "offline:keel-offline-1",
) -> Graph:
    builder = build_review_graph(
        model=model or offline_model(),
        deps=book.deps(adapters=adapters, label=label),
        reader=reader or book.reader(),
    )
    return builder.compile(checkpointer=persistence.checkpointer, store=persistence.store)


def review(graph: Graph, book: Book, account: Account) -> ReviewResult:
    return start_review(
        graph,
        account_id=account.id or 0,
        thread_id=new_thread_id(account.external_id),
        as_of=book.as_of,
    )


def first_review_with(
    graph: Graph,
    book: Book,
    *,
    wanted: str = "customer_pending",
) -> tuple[Account, ReviewResult]:
    """Review accounts not yet used in this module until one has what a test needs.

    ``customer_pending``: an email waiting for approval.
    """
    for account in book.active_accounts():
        if account.id in book.handed_out:
            continue
        book.handed_out.add(account.id or 0)
        result = review(graph, book, account)
        if wanted == "customer_pending" and any(
            p.args["channel"] == "email" for p in result.pending
        ):
            return account, result
    raise AssertionError(f"no account in the seeded book gives {wanted}")


def retire(engine: Engine, thread_id: str) -> None:
    """Take a thread's pending actions out of the queue (superseded), so frequency caps see
    the book as if that review had not run."""
    from sqlalchemy import update
    from sqlmodel import col

    from keel.memory.actions import ActionStatus

    with Session(engine) as session:
        session.exec(
            update(ProposedAction)
            .where(
                col(ProposedAction.thread_id) == thread_id,
                col(ProposedAction.status) == ActionStatus.PENDING,
            )
            .values(status=ActionStatus.SUPERSEDED)
        )
        session.commit()


def actions_of(engine: Engine, thread_id: str) -> list[ProposedAction]:
    with Session(engine) as session:
        return list_actions(session, thread_id=thread_id)


def assert_readable_draft(
    draft: Mapping[str, Any], *, account: Account, contact: Contact | None
) -> None:
    """A draft a CSM can send: names the account and the contact, holds nothing internal
    (no evidence ids, no note on the model: those are the reviewer's), is honest."""
    body = str(draft["body"])
    assert account.name in body or account.name in str(draft["subject"]), body
    if contact is not None:
        assert contact.name.split()[0] in body, body
    assert OFFLINE_NOTICE not in body
    assert not find_internal(body), body
    assert len(body.split()) >= 30


@contextmanager
def smtp_adapters(settings: Settings) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A real SMTP sink on loopback, and adapters sending email to it (the rest dry-run)."""
    from keel.tools.outbound.smtp import SmtpAdapter
    from tests.local_servers import SmtpSink

    with SmtpSink() as sink:
        adapters = dry_run_adapters(settings)
        adapters[str(Channel.EMAIL)] = SmtpAdapter(
            host=sink.host, port=sink.port, sender="csm@keel.example"
        )
        yield sink, adapters


def outbox_files(settings: Settings) -> list[Path]:
    return sorted(settings.outbox_dir.glob("*")) if settings.outbox_dir.exists() else []
