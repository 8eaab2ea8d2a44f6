"""A process that boots the Ibutsu app on request, for tests and benchmarks of parallel boots.

Run as ``python tests/boot_worker.py``. It imports everything
first and prints ``ready``; then, for each JSON line of app config read from
standard input, it calls ``create_app`` and prints one JSON line: whether it
booted, when it started and ended (``time.time()``), its CPU time, which revisions this
process applied or stamped, and the error, if any. ``quit`` ends it.

Driving long-lived workers this way keeps interpreter start-up and imports out
of what is measured: only the guard's work and its waiting on the lock remain.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


class _Collector(logging.Handler):
    """Keeps the guard's per-revision log records of one boot."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[list[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "flask_migration_guard.actions" and isinstance(record.args, tuple):
            if len(record.args) == 4 and record.args[0] in ("Applied", "Stamped", "Reverted"):
                self.steps.append([str(record.args[0]), str(record.args[1])])


def boot(config: dict[str, Any]) -> dict[str, Any]:
    """Boot the app once with ``config``; report what happened."""
    from ibutsu_server import create_app
    from ibutsu_server.db import db

    collector = _Collector()
    logger = logging.getLogger("flask_migration_guard.actions")
    logger.addHandler(collector)
    logger.setLevel(logging.INFO)
    started = time.time()
    cpu_started = time.process_time()
    try:
        app = create_app(config)
        with app.app_context():
            db.engine.dispose()
        error = None
    except Exception as exc:  # reported to the parent, which decides
        error = f"{type(exc).__name__}: {exc}"
    finally:
        logger.removeHandler(collector)
    return {
        "ok": error is None,
        "start": started,
        "end": time.time(),
        "cpu": time.process_time() - cpu_started,
        "steps": collector.steps,
        "error": error,
    }


def main() -> None:
    import ibutsu_server  # noqa: F401  (import everything before saying ready)
    import ibutsu_server.db.models  # noqa: F401
    import flask_migration_guard  # noqa: F401

    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        print(json.dumps(boot(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
