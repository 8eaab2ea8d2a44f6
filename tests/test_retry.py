"""The guard's one retry helper: what it calls, when it pauses, and when it stops."""

from __future__ import annotations

import time

import pytest

from flask_migration_guard.retry import poll


def test_returns_the_first_answer() -> None:
    """Tries until ``attempt`` answers, pausing with growing, capped delays in between."""
    answers = iter([None, None, None, "done"])
    pauses: list[float] = []
    result = poll(
        lambda: next(answers), deadline=time.monotonic() + 60, first=0.001, factor=3.0,
        cap=0.005, before_pause=pauses.append,
    )
    assert result == "done"
    assert pauses == [0.001, 0.003, 0.005]


def test_stops_before_a_pause_that_would_pass_the_deadline() -> None:
    """With the deadline already reached, one try and no pause: ``None``."""
    calls: list[int] = []
    pauses: list[float] = []

    def never() -> None:
        calls.append(1)

    assert poll(never, deadline=time.monotonic(), first=0.5, before_pause=pauses.append) is None
    assert calls == [1] and pauses == []


def test_errors_are_not_retried() -> None:
    """What ``attempt`` raises ends the polling at once."""
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("permanent")

    with pytest.raises(ValueError, match="permanent"):
        poll(broken, deadline=time.monotonic() + 60, first=0.001)
    assert calls == [1]
