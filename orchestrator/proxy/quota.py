"""What ``shoal serve`` adds to a request for sovereignty and budgets.

- ``x-shoal-sensitivity: confidential`` (a header) joins the request's sensitivity, as
  ``"shoal": {"sensitivity": ...}`` in the body does; both apply.
- Daily budgets per API key (``[server] key_daily_max_cost_usd``, ``key_daily_max_calls``):
  a key whose day is spent gets 429 before anything is sent; a request's own budgets
  are capped by what the key has left, so one request cannot overrun the day; every
  call is charged to the key as it is made (failed requests' calls too).

The key of the request in progress travels in a context variable, so the
orchestrator's ``on_call`` (which runs inside the request's tasks) knows whom to charge.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from pathlib import Path

from orchestrator.config import ServerConfig
from orchestrator.errors import BudgetExceeded
from orchestrator.key_budgets import DailyBudgets, Remaining, key_id
from orchestrator.sovereignty.policy import Policy
from orchestrator.types import Candidate, Tags

__all__ = ["SENSITIVITY_HEADER", "KeyQuota", "seconds_to_midnight_utc", "with_header_sensitivity"]

SENSITIVITY_HEADER = "x-shoal-sensitivity"


def with_header_sensitivity(tags: Tags, header: str | None, policy: Policy | None = None) -> Tags:
    """The request's tags with the header's sensitivity added to the body's.

    With ``policy``, both are normalised and checked first: a label the policy does not know
    raises :class:`~orchestrator.errors.UnknownSensitivityError` naming where it came from
    (the proxy answers 400 before anything is sent or streamed).
    """
    if policy is None:
        if not header or not header.strip():
            return tags
        levels = [s for s in (tags.sensitivity, header) if s and s.strip()]
        return tags.model_copy(update={"sensitivity": ",".join(levels)})
    body = policy.labels(tags.sensitivity, where="shoal.sensitivity")
    extra = policy.labels(header, where=f"the {SENSITIVITY_HEADER} header")
    return tags.model_copy(update={"sensitivity": ",".join(dict.fromkeys(body + extra)) or None})


def seconds_to_midnight_utc() -> int:
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()))


class KeyQuota:
    """Per-key daily budgets of one server process (usage shared with its workers through a file)."""

    def __init__(self, settings: ServerConfig, cache_dir: Path) -> None:
        enabled = settings.key_daily_max_cost_usd is not None or settings.key_daily_max_calls is not None
        self.budgets = (
            DailyBudgets(
                settings.key_budgets_path or cache_dir / "key_budgets.sqlite",
                max_cost_usd=settings.key_daily_max_cost_usd,
                max_calls=settings.key_daily_max_calls,
            )
            if enabled
            else None
        )
        self._key: contextvars.ContextVar[str | None] = contextvars.ContextVar("shoal_key", default=None)
        self._left: contextvars.ContextVar[Remaining | None] = contextvars.ContextVar(
            "shoal_left", default=None
        )

    def begin(self, authorization: str | None, tags: Tags) -> Tags:
        """Before a request: :class:`BudgetExceeded` if the key's day is spent, else capped tags."""
        if self.budgets is None:
            return tags
        scheme, _, token = (authorization or "").partition(" ")
        key = key_id(token.strip() if scheme.lower() == "bearer" else None)
        left = self.budgets.remaining(key)
        self._key.set(key)
        self._left.set(left)
        update: dict[str, float | int] = {}
        if left.calls is not None and (tags.max_calls is None or left.calls < tags.max_calls):
            update["max_calls"] = left.calls
        if left.cost_usd is not None and (tags.max_cost_usd is None or left.cost_usd < tags.max_cost_usd):
            update["max_cost_usd"] = left.cost_usd
        return tags.model_copy(update=update) if update else tags

    def on_call(self, candidate: Candidate) -> None:
        """Charge a call that reached its member to the key of the request that made it."""
        key = self._key.get()
        if self.budgets is None or key is None or candidate.cached or candidate.attempts == 0:
            return
        self.budgets.charge(key, candidate.cost_usd, 1)

    def explain(self, exc: BudgetExceeded, caller: Tags | None) -> BudgetExceeded:
        """A refusal caused by the key's daily budget (not the caller's own) says so."""
        left = self._left.get()
        if self.budgets is None or left is None or exc.budget not in ("max_calls", "max_cost_usd"):
            return exc
        daily = left.calls if exc.budget == "max_calls" else left.cost_usd
        own = getattr(caller, exc.budget, None) if caller is not None else None
        if daily is None or (own is not None and own <= daily):
            return exc
        limit = self.budgets.max_calls if exc.budget == "max_calls" else self.budgets.max_cost_usd
        shown = f"{daily}" if exc.budget == "max_calls" else f"{daily:.6f} USD"
        return BudgetExceeded(
            f"daily budget key_daily_{exc.budget}={limit} of this API key would be exceeded ({shown} left "
            f"today; it renews at 00:00 UTC): {exc}",
            budget=f"key_daily_{exc.budget}",
        )

    def close(self) -> None:
        if self.budgets is not None:
            self.budgets.close()
