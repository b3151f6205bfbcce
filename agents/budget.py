"""A per-run budget of model calls and tokens, shared by every model call in one run.

The budget is checked *before* a call: a call that would go over the limit is refused with
:class:`keel.errors.BudgetExceeded`, so a run stops cleanly between steps instead of
overspending. Token use is only known after a call, so the check uses an estimate of the
prompt and the real usage reported by the endpoint is settled afterwards.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keel.errors import BudgetExceeded

if TYPE_CHECKING:
    from keel.settings import Settings


@dataclass(frozen=True)
class BudgetRemaining:
    """What is left of a budget at one moment."""

    calls: int
    tokens: int


class RunBudget:
    """Thread-safe counters of model calls and tokens for one run.

    Args:
        max_calls: Model calls allowed in the run.
        max_tokens: Tokens (prompt + completion) allowed in the run.
    """

    def __init__(
        self,
        max_calls: int,
        max_tokens: int,
        *,
        parent: RunBudget | None = None,
        scope: str = "this run",
        settings_names: tuple[str, str] = ("KEEL_LLM_MAX_CALLS", "KEEL_LLM_MAX_TOKENS"),
    ) -> None:
        if max_calls < 0 or max_tokens < 0:
            raise ValueError("budget limits must not be negative")
        self.scope = scope
        self.calls_setting, self.tokens_setting = settings_names
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.parent = parent
        self._calls = 0
        self._tokens = 0
        self._lock = threading.Lock()

    def child(
        self,
        max_calls: int,
        max_tokens: int,
        *,
        scope: str = "this account",
        settings_names: tuple[str, str] = (
            "KEEL_LLM_MAX_CALLS_PER_ACCOUNT",
            "KEEL_LLM_MAX_TOKENS_PER_ACCOUNT",
        ),
    ) -> RunBudget:
        """A budget for one part of this run (one account of a nightly run): a call is
        charged to both, so neither the part nor the whole can go over."""
        return RunBudget(
            max_calls, max_tokens, parent=self, scope=scope, settings_names=settings_names
        )

    def for_account(self, settings: Settings) -> RunBudget:
        """This run's budget for one account, limited by the per-account settings."""
        return self.child(
            min(settings.llm_max_calls_per_account, self.max_calls),
            min(settings.llm_max_tokens_per_account, self.max_tokens),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RunBudget:
        """The budget configured by ``KEEL_LLM_MAX_CALLS`` and ``KEEL_LLM_MAX_TOKENS``."""
        return cls(max_calls=settings.llm_max_calls, max_tokens=settings.llm_max_tokens)

    @property
    def calls_used(self) -> int:
        return self._calls

    @property
    def tokens_used(self) -> int:
        return self._tokens

    def charge(self, calls: int = 1, tokens: int = 0) -> None:
        """Reserve ``calls`` and ``tokens`` for a call about to be made.

        The check and the update happen under one lock, so two threads can never both
        take the last call.

        Raises:
            BudgetExceeded: the reservation would go over either limit; nothing is charged.
        """
        with self._lock:
            self._check(calls, tokens)
            if self.parent is not None:
                # The parent refuses before this one is charged: nothing is charged then.
                self.parent.charge(calls, tokens)
            self._calls += calls
            self._tokens += tokens

    def _check(self, calls: int, tokens: int) -> None:
        if self._calls + calls > self.max_calls:
            raise BudgetExceeded(
                f"The model budget for {self.scope} is spent: {self._calls} of "
                f"{self.max_calls} calls used ({self.calls_setting}). "
                "Stopped before making another call."
            )
        if self._tokens + tokens > self.max_tokens:
            left = max(self.max_tokens - self._tokens, 0)
            raise BudgetExceeded(
                f"The model budget for {self.scope} is spent: {self._tokens:,} of "
                f"{self.max_tokens:,} tokens used ({self.tokens_setting}) and the next "
                f"call needs about {tokens:,} but only {left:,} remain. "
                "Stopped before making another call."
            )

    def adjust(self, tokens: int) -> None:
        """Correct the token count once real usage is known (never raises).

        A call already made is paid for even if it went over; the next :meth:`charge`
        refuses.
        """
        with self._lock:
            self._tokens = max(self._tokens + tokens, 0)
        if self.parent is not None:
            self.parent.adjust(tokens)

    def remaining(self) -> BudgetRemaining:
        with self._lock:
            return BudgetRemaining(
                calls=max(self.max_calls - self._calls, 0),
                tokens=max(self.max_tokens - self._tokens, 0),
            )

    def __repr__(self) -> str:
        return (
            f"RunBudget(calls={self._calls}/{self.max_calls}, "
            f"tokens={self._tokens}/{self.max_tokens})"
        )


def budget_in_run() -> RunBudget | None:
    """The budget of the graph run the caller is part of, from its run context.

    A model call made inside a LangGraph run (``graph.invoke(..., context=RunContext(...))``)
    is charged to that run's budget, so two runs sharing one model object (one per process)
    never share a budget. None outside a run, or when the run has no context.
    """
    from langgraph.runtime import get_runtime

    try:
        runtime = get_runtime()
    except RuntimeError:  # not inside a runnable at all
        return None
    context = getattr(runtime, "context", None) if runtime is not None else None
    budget = getattr(context, "budget", None)
    return budget if isinstance(budget, RunBudget) else None
