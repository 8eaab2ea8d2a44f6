"""The guard's one way of trying again: call, pause with backoff, stop at a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(
    attempt: Callable[[], T | None],
    *,
    deadline: float,
    first: float,
    factor: float = 2.0,
    cap: float = 5.0,
    before_pause: Callable[[float], None] | None = None,
) -> T | None:
    """Call ``attempt`` until it returns something other than ``None``, or until the next
    pause would end past ``deadline`` (a ``time.monotonic()`` value): then ``None``.

    Pauses start at ``first`` seconds and grow by ``factor`` up to ``cap``;
    ``before_pause`` hears of each one first (to log it). ``attempt`` decides what
    is worth another try: it returns ``None`` for that, and raises for the rest.
    """
    delay = first
    while True:
        result = attempt()
        if result is not None:
            return result
        if time.monotonic() + delay > deadline:
            return None
        if before_pause is not None:
            before_pause(delay)
        time.sleep(delay)
        delay = min(delay * factor, cap)
