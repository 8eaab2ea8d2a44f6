"""What a migration tells while it runs: a line as each revision starts and ends, one
while a long one runs, or, on a terminal, one line redrawn as a bar."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click
import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger("flask_migration_guard.actions")

#: Seconds between two progress lines: of a long revision, and of wait mode.
PROGRESS_INTERVAL = 10.0
#: Seconds between two redraws of the bar, which shows the running revision's time.
BAR_INTERVAL = 0.5
#: The most characters of a revision's name the bar shows, so that its line fits.
NAME_WIDTH = 32


class RevisionBar:
    """One line on a terminal, redrawn: revision n of N, its id and name, and how long
    it has run.

    :param total: how many revisions the run applies.
    :param name_of: the one-line name of a revision id.
    """

    def __init__(self, total: int, name_of: Callable[[str], str], stream: TextIO) -> None:
        self.total = total
        self.step = 0
        self.name_of = name_of
        self.revision = self.name = ""
        self.started = time.perf_counter()
        self.drawing = threading.Lock()
        self.bar: Any = click.progressbar(
            length=max(total, 1),
            label="Upgrading",
            show_eta=False,
            show_percent=False,
            show_pos=False,
            item_show_func=self._item,
            file=stream,
        )

    def _item(self, _: object) -> str:
        if not self.revision:
            return ""
        elapsed = time.perf_counter() - self.started
        name = self.name if len(self.name) <= NAME_WIDTH else f"{self.name[:NAME_WIDTH - 3]}..."
        return (
            f"revision {self.step} of {self.total}: {self.revision}"
            f"{f' {name}' if name else ''}, {elapsed:.0f} s"
        )

    def start(self, step: int, revision: str) -> None:
        """Show ``revision``, the ``step``-th, as the one running, from now."""
        name = self.name_of(revision)
        with self.drawing:
            self.step, self.revision, self.name = step, revision, name
            self.started = time.perf_counter()
            self.bar.render_progress()

    def finish(self) -> None:
        """Count the running revision as done."""
        with self.drawing:
            self.bar.update(1)

    def redraw(self) -> None:
        with self.drawing:
            self.bar.render_progress()

    def close(self) -> None:
        """End the bar's line, so that what follows starts on a line of its own."""
        with self.drawing:
            self.revision = ""
            self.bar.render_finish()


class RevisionLogger:
    """Alembic ``on_version_apply`` hook: a line when each planned revision starts, one
    every :data:`PROGRESS_INTERVAL` seconds while it runs, and one when it is done; with
    a ``bar``, the bar shows all that instead, and the lines go to DEBUG.

    Alembic calls the hook inside the revision's transaction, whose COMMIT may still
    fail: a revision is done, and said to be, only once its transaction has committed
    (see :meth:`confirming`).

    :param planned: the revisions the run applies, in order, when known.
    """

    def __init__(self, planned: tuple[str, ...] = (), bar: RevisionBar | None = None) -> None:
        self.planned = planned
        self.bar = bar
        self.level = logging.DEBUG if bar is not None else logging.INFO
        self.started = time.perf_counter()
        self.done: tuple[str, ...] = ()
        self.uncommitted: list[Any] = []  # the steps whose transaction has not committed yet

    def _running_now(self) -> str | None:
        return self.planned[len(self.done)] if len(self.done) < len(self.planned) else None

    def _announce(self) -> None:
        revision = self._running_now()
        if revision is not None:
            step = len(self.done) + 1
            log.log(self.level, "Applying %s, revision %d of %d", revision, step, len(self.planned))
            if self.bar is not None:
                self.bar.start(step, revision)

    def _tell(self) -> None:
        if self.bar is not None:
            self.bar.redraw()
            return
        log.info(
            "Revision %s still running after %.0f s",
            self._running_now() or "(unknown)",
            time.perf_counter() - self.started,
        )

    @contextmanager
    def running(self) -> Iterator[None]:
        """Announce the first revision, and tell of a long one while the block runs."""
        stopped = threading.Event()
        interval = BAR_INTERVAL if self.bar is not None else PROGRESS_INTERVAL

        def tell() -> None:
            while not stopped.wait(interval):
                self._tell()

        self.started = time.perf_counter()
        self._announce()
        teller = threading.Thread(target=tell, name="migration-progress", daemon=True)
        teller.start()
        try:
            yield
        finally:
            stopped.set()
            teller.join()
            if self.bar is not None:
                self.bar.close()

    def __call__(self, *, step: Any, **_: Any) -> None:
        self.uncommitted.append(step)

    def _committed(self, *_: Any) -> None:
        """The steps seen so far have committed: say so, and announce the next."""
        steps, self.uncommitted = self.uncommitted, []
        for step in steps:
            self._done(step)

    def _done(self, step: Any) -> None:
        elapsed = (time.perf_counter() - self.started) * 1000
        verb = "Stamped" if step.is_stamp else "Applied" if step.is_upgrade else "Reverted"
        revision = step.up_revision
        forward = step.is_upgrade or step.is_stamp
        if revision is not None and forward:
            self.done += (revision.revision,)
            if self.bar is not None and not step.is_stamp:
                self.bar.finish()
        log.log(
            self.level,
            "%s %s (%s) in %.1f ms",
            verb,
            revision.revision if revision else "base",
            revision.doc if revision else "",
            elapsed,
        )
        self.started = time.perf_counter()
        if forward:
            self._announce()

    @contextmanager
    def confirming(self, connection: Connection) -> Iterator[None]:
        """Within the block, the steps seen are done once ``connection`` begins its next
        transaction (Alembic commits each revision's before it goes on), or once the
        block ends without an error; steps whose commit failed are never said done."""
        sa.event.listen(connection, "begin", self._committed)
        try:
            yield
            self._committed()
        finally:
            sa.event.remove(connection, "begin", self._committed)
