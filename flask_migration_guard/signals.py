"""Stopping a migration cleanly on SIGTERM (what Kubernetes sends) and SIGINT.

While a migration runs, either signal raises :class:`Interrupted` in the
main thread. psycopg 3 then cancels the statement running on the server; for
psycopg2 the wait for the server is made interruptible for the same effect.
The migration's transaction rolls back and the lock is released on the way
out; the guard then reports where the database stays. Later signals of the
same run only add to the record, so that the clean-up itself is not cut short.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """A signal asked the process to stop during a migration.

    A ``KeyboardInterrupt``, so that psycopg cancels the running statement.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def _psycopg2_interruptible() -> Iterator[None]:
    if "psycopg2" not in sys.modules:  # then no connection of psycopg2's exists to wait on
        yield
        return
    import psycopg2.extensions
    import psycopg2.extras

    previous = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(previous)


@contextmanager
def stopped_by_signals() -> Iterator[list[str]]:
    """Within the block, SIGTERM and SIGINT raise :class:`Interrupted`.

    :return: the names of the signals received, for the caller to report.
        Outside the main thread signals cannot be caught: the block then runs
        as it is, and the list stays empty.
    """
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        if len(received) == 1:
            raise Interrupted(signum)
        log.warning("%s received again while stopping the migration", received[-1])

    previous: dict[int, Any] = {number: signal.signal(number, interrupt) for number in SIGNALS}
    try:
        with _psycopg2_interruptible():
            yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
