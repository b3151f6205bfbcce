"""``keel chat``: a terminal chat with the account analyst, streamed and cited.

Each line is a question; the answer streams as the model writes it, tools show as they
run, and the checked answer ends with the evidence ids it cites (``keel show ID`` opens
one). Commands: ``/new`` starts a new conversation, ``/history`` prints this one,
``/account ID`` talks about another account, ``/quit`` leaves. A conversation is kept on
the checkpointer: ``keel chat --thread ID`` continues it later, from any process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.markup import escape

from keel.api.cli.common import console, make_app

CHAT_HELP = (
    "Chat with the account analyst about your book: answers cite the evidence ids they "
    "rest on (`keel show ID` opens one); drafts you ask for wait in the approval queue.\n\n"
    "Commands in the chat: /new, /history, /account ID, /quit.\n\n"
    "Examples:\n\n"
    "  keel chat --user ana@example.com --account acc-00001\n"
    "  keel chat --user ana@example.com --thread chat:ana@example.com:1a2b3c4d5e6f\n"
)


def chat_command(
    account: Annotated[
        str | None, typer.Option("--account", help="The account to talk about.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="You, as your accounts' owner (default: $KEEL_USER)."),
    ] = None,
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this conversation.")
    ] = None,
) -> None:
    from keel.api.services.chat import ChatRequest, ask, history

    who = user or os.environ.get("KEEL_USER")
    if not who:
        raise typer.BadParameter("say who you are: --user (or set KEEL_USER)")
    focus = account
    with make_app() as app:
        console.print(
            f"Keel chat ({escape(app.model_label)}) for {escape(who)}. "
            "/new, /history, /account ID, /quit",
            highlight=False,
        )
        if thread:
            console.print(f"thread {escape(thread)}", highlight=False)
        for line in sys.stdin if not sys.stdin.isatty() else _prompted():
            text = line.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            if text == "/new":
                thread, focus = None, account
                console.print("new conversation", highlight=False)
                continue
            if text == "/history":
                for message in history(app, thread) if thread else []:
                    console.print(f"[bold]{message.role}:[/] {escape(message.text)}")
                continue
            if text.startswith("/account"):
                focus = text.removeprefix("/account").strip() or None
                console.print(f"account: {escape(focus or '(none)')}", highlight=False)
                continue
            streamed: list[str] = []
            for event in ask(app, ChatRequest(who, text, thread_id=thread, account=focus)):
                if event.kind == "thread":
                    if thread != event.text:
                        console.print(f"thread {escape(event.text)}", highlight=False)
                    thread = event.text
                elif event.kind == "tool":
                    console.print(f"[dim]… {escape(event.text)}[/]", highlight=False)
                elif event.kind == "token":
                    streamed.append(event.text)
                    console.print(escape(event.text), end="", highlight=False, soft_wrap=True)
                elif event.kind == "answer":
                    _print_answer(event.text, "".join(streamed), event.data)
                elif event.kind == "action":
                    console.print(f"[bold]action:[/] {escape(event.text)}", highlight=False)
                elif event.kind == "error":
                    console.print(f"[red]error:[/] {escape(event.text)}", highlight=False)
            focus = None  # the thread remembers its account from here on
            sys.stdout.flush()


def _print_answer(text: str, streamed: str, data: dict[str, object]) -> None:
    if streamed.strip() != text.strip():
        # The citation check changed what streamed: the checked answer is the one to keep.
        console.print("\n[bold]checked answer:[/]", highlight=False)
        console.print(escape(text), highlight=False, soft_wrap=True)
    else:
        console.print("")
    cited = [str(c) for c in data.get("citations") or []]  # type: ignore[attr-defined]
    removed = [str(c) for c in data.get("removed") or []]  # type: ignore[attr-defined]
    why = data.get("why") or {}
    if cited:
        console.print(f"[dim]sources: {escape(', '.join(cited))}[/]", highlight=False)
    for ident in removed:
        reason = why.get(ident) if isinstance(why, dict) else None
        console.print(
            f"[dim]removed {escape(ident)}: {escape(str(reason or 'no tool returned it'))}[/]",
            highlight=False,
        )


def _prompted() -> Iterator[str]:
    while True:
        try:
            yield input("> ")
        except EOFError:
            return


def register(app: typer.Typer) -> None:
    """Add ``keel chat`` to ``app``."""
    app.command("chat", help=CHAT_HELP)(chat_command)
