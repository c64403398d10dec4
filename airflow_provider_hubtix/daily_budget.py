"""Leaving part of the account's daily request limit to the rest of the company (plain Python).

A HubSpot account's daily limit is shared by every private app and service key of the account: a
job that uses it up stops every other integration until midnight in the account's time zone. Each
answer to a private-app or service-key call carries ``X-HubSpot-RateLimit-Daily`` (the limit) and
``X-HubSpot-RateLimit-Daily-Remaining``; OAuth calls carry neither (OAuth apps have no daily limit).

:class:`DailyBudget` watches those headers on every answer and decides whether another request may
go: never once ``Daily-Remaining`` is at or below the reserve (:class:`DailyReserveReached`), and near
the end never more in flight than ``Daily-Remaining`` minus the reserve allows, every request in
flight counted against the last ``Daily-Remaining`` seen (whether HubSpot computes it when it counts
a request or when it answers, this never overshoots). Other clients of the account show up in the
same header. Answers come back out of order, so an answer to a request sent before the current view
was formed can only lower it; one sent after replaces it (the daily reset at midnight shows this
way). A request without an answer is taken to have been counted. Until the first answer only one
request goes, so that a run starting near the end of the budget cannot overshoot it.

Thread-safe, no Airflow import.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from airflow_provider_hubtix.errors import InvalidInputError
from airflow_provider_hubtix.progress import Logger
from airflow_provider_hubtix.ratelimit import MAX_HEADER, int_header

__all__ = [
    "DAILY_HEADER",
    "DAILY_REMAINING_HEADER",
    "DEFAULT_DAILY_RESERVE",
    "DailyBudget",
    "DailyReserve",
    "DailyReserveReached",
]

DEFAULT_DAILY_RESERVE = "5%"
"""Requests of the account's daily limit left unused unless configured."""

DAILY_HEADER = "X-HubSpot-RateLimit-Daily"
DAILY_REMAINING_HEADER = "X-HubSpot-RateLimit-Daily-Remaining"

_HOW_TO_WRITE = (
    "use a whole number of requests (e.g. 10000) or a percentage of the account's daily limit from "
    "0% to 100% (e.g. '5%'); 0 turns the reserve off."
)


@dataclass(frozen=True)
class DailyReserve:
    """Requests of the account's daily limit to leave unused: a count, or a share of the limit.

    Build it with :meth:`parse`.

    :param given: the value as the user wrote it (named in messages).
    :param count: the reserve in requests, or ``None`` when it is a share.
    :param share: the reserve as a fraction of the daily limit, or ``None`` when it is a count.
    """

    given: int | str
    count: int | None = None
    share: Fraction | None = None

    @classmethod
    def parse(cls, value: Any) -> DailyReserve:
        """Read an integer or an ``"N%"`` string.

        :param value: what the user gave.
        :raises InvalidInputError: naming the value, when it is negative, not a number, or a percentage
            outside 0-100 %.
        """
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InvalidInputError(f"daily_reserve={value!r} is not a number; {_HOW_TO_WRITE}")
        if isinstance(value, str) and value.strip().endswith("%"):
            percent = _number(value, value.strip()[:-1])
            if not 0 <= percent <= 100:
                raise InvalidInputError(f"daily_reserve={value!r} is outside 0% to 100%; {_HOW_TO_WRITE}")
            return cls(value, share=Fraction(percent) / 100)
        number = _number(value, str(value))
        if number.denominator != 1:
            raise InvalidInputError(
                f"daily_reserve={value!r} is not a whole number of requests; {_HOW_TO_WRITE}"
            )
        if number < 0:
            raise InvalidInputError(f"daily_reserve={value!r} is negative; {_HOW_TO_WRITE}")
        return cls(value, count=int(number))

    @property
    def off(self) -> bool:
        """Whether no reserve is kept (``0`` or ``"0%"``)."""
        return not (self.count or self.share)

    def requests(self, daily_limit: int) -> int:
        """The reserve in requests for this daily limit (a share is rounded up).

        :param daily_limit: ``X-HubSpot-RateLimit-Daily``.
        """
        if self.share is None:
            return self.count or 0
        return math.ceil(daily_limit * self.share)

    def describe(self, daily_limit: int) -> str:
        """The reserve in requests, and as given when it is a share: ``'5%' (2 requests)``.

        :param daily_limit: ``X-HubSpot-RateLimit-Daily``.
        """
        requests = f"{self.requests(daily_limit):,} requests"
        return requests if self.share is None else f"{self.given!r} ({requests})"


class DailyReserveReached(Exception):
    """No request may go: ``Daily-Remaining`` is at or below the reserve.

    :param remaining: the account's requests left today.
    :param daily_limit: the account's daily limit.
    :param reserve: the reserve in force.
    """

    def __init__(self, remaining: int, daily_limit: int, reserve: DailyReserve) -> None:
        self.remaining = remaining
        self.daily_limit = daily_limit
        self.reserve = reserve
        super().__init__(
            f"the account has {remaining:,} of its {daily_limit:,} daily requests left and daily_reserve "
            f"{reserve.describe(daily_limit)} keeps them for its other integrations"
        )


class DailyBudget:
    """Whether another request may go, from the daily headers of every answer.

    Call :meth:`admit` before each request and :meth:`settle` with its answer's headers (or
    ``None`` when it got no answer).

    :param reserve: the reserve to keep; default ``"5%"``.
    """

    def __init__(self, reserve: DailyReserve | None = None) -> None:
        self.reserve = reserve or DailyReserve.parse(DEFAULT_DAILY_RESERVE)
        self._cond = threading.Condition()
        self._daily_limit: int | None = None
        self._remaining: int | None = None
        """The account's requests left today, as far as the answers tell."""
        self._events = 0
        """Answers and lost answers settled so far: the ticket of a request admitted now."""
        self._view_from = 0
        """Requests admitted at or after this ticket were sent after :attr:`_remaining` was formed."""
        self._in_flight = 0
        self._headerless = False
        """An answer came without the daily headers (OAuth): no daily limit to keep to."""
        self._when_known: list[tuple[int, Callable[[int], None]]] = []
        """Checks waiting for the first daily headers, with the ticket at which each was asked."""

    def admit(self) -> int:
        """Block until one more request may go, count it in flight, and return its ticket.

        :raises DailyReserveReached: once ``Daily-Remaining`` is at or below the reserve.
        """
        with self._cond:
            while not self._may_send():
                self._cond.wait()
            return self._take()

    def try_admit(self) -> int | None:
        """Count one more request in flight and return its ticket if it may go now, else ``None``.

        :raises DailyReserveReached: once ``Daily-Remaining`` is at or below the reserve.
        """
        with self._cond:
            return self._take() if self._may_send() else None

    def settle(self, ticket: int, headers: Mapping[str, str] | None) -> None:
        """The request of ``ticket`` got its answer (its headers), or none (``None``).

        :param ticket: what :meth:`admit` returned.
        :param headers: the answer's headers (case-insensitive, as ``requests`` gives them).
        """
        with self._cond:
            self._in_flight -= 1
            was_known = self._remaining is not None
            self._observe(ticket, headers)
            self._events += 1
            ready: list[Callable[[], None]] = []
            if not was_known and (headroom := self._headroom()) is not None:
                ready = [  # the requests answered since the check was asked count as fitting
                    functools.partial(check, headroom + self._events - asked)
                    for asked, check in self._when_known
                ]
                self._when_known = []
            self._cond.notify_all()
        for call in ready:
            call()

    def headroom(self) -> int | None:
        """Requests that may still go today above the reserve, or ``None`` while not known."""
        with self._cond:
            return self._headroom()

    def announce(self, inputs: int, batch_size: int, log: Logger) -> None:
        """Log how many requests a run needs against the headroom; warn when it will not fit.

        When the headroom is not known yet, say so and check again on the first answer that tells.

        :param inputs: inputs the run will send.
        :param batch_size: inputs per request.
        :param log: where to say it.
        """
        needed = -(-inputs // batch_size)

        def check(headroom: int) -> None:
            _report_fit(needed, headroom, self._describe_reserve(), log)

        with self._cond:
            headroom = self._headroom()
            if headroom is None:
                self._when_known.append((self._events, check))
        if headroom is not None:
            check(headroom)
        else:
            log.info(
                "This run needs %d requests to HubSpot; the account's daily requests left are not known "
                "yet (HubSpot tells them with its first answer, except to OAuth apps, which have no "
                "daily limit).",
                needed,
            )

    def _take(self) -> int:
        self._in_flight += 1
        return self._events

    def _may_send(self) -> bool:
        if self.reserve.off or self._headerless:
            return True
        if self._remaining is None or self._daily_limit is None:
            return self._in_flight == 0  # the first request goes alone
        reserve = self.reserve.requests(self._daily_limit)
        if self._remaining <= reserve:
            raise DailyReserveReached(self._remaining, self._daily_limit, self.reserve)
        return self._remaining - reserve - self._in_flight > 0

    def _observe(self, ticket: int, headers: Mapping[str, str] | None) -> None:
        if headers is None:
            if self._remaining is not None:  # it may have been counted
                self._remaining = max(self._remaining - 1, 0)
                self._view_from = self._events + 1
            return
        daily_limit = int_header(headers, DAILY_HEADER)
        remaining = int_header(headers, DAILY_REMAINING_HEADER)
        if daily_limit is None or remaining is None:
            # Only an answer with HubSpot's rate-limit headers but no daily ones is an OAuth call's
            # (no daily limit); an edge server's 5xx carries none at all and proves nothing.
            if int_header(headers, MAX_HEADER) is not None:
                self._headerless = self._headerless or self._remaining is None
            return
        self._daily_limit = daily_limit
        if self._remaining is None or ticket >= self._view_from or remaining < self._remaining:
            self._remaining = remaining
            self._view_from = self._events + 1

    def _headroom(self) -> int | None:
        if self._remaining is None or self._daily_limit is None:
            return None
        return max(self._remaining - self.reserve.requests(self._daily_limit), 0)

    def _describe_reserve(self) -> str:
        with self._cond:
            daily_limit = self._daily_limit or 0
        return self.reserve.describe(daily_limit)


def _report_fit(needed: int, headroom: int, reserve: str, log: Logger) -> None:
    if needed <= headroom:
        log.info(
            "This run needs %d requests to HubSpot; %d fit in what the account has left today above "
            "daily_reserve %s.",
            needed,
            headroom,
            reserve,
        )
        return
    log.warning(
        "This run needs %d requests to HubSpot but only %d fit in what the account has left today "
        "above daily_reserve %s: it will stop after those, record the inputs it could not send as "
        "NOT_ATTEMPTED and fail. The daily limit resets at midnight in the account's time zone: "
        "re-run the task then (with the same output_path it resumes), or lower daily_reserve.",
        needed,
        headroom,
        reserve,
    )


def _number(value: Any, text: str) -> Fraction:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInputError(f"daily_reserve={value!r} is not a number; {_HOW_TO_WRITE}") from None
    if not number.is_finite():
        raise InvalidInputError(f"daily_reserve={value!r} is not a number; {_HOW_TO_WRITE}")
    return Fraction(number)
