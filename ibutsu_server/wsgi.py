"""The app for WSGI servers: ``gunicorn ibutsu_server.wsgi:app``.

A boot the guard refuses ends the process with the guard's message on one line and exit
code 3, which gunicorn reads as "worker failed to boot" and stops on, instead of
starting workers that fail the same way. The traceback is logged at DEBUG.
"""

from __future__ import annotations

import logging
import sys

from flask_migration_guard.errors import GuardError

from ibutsu_server import create_app

#: gunicorn's exit code for a worker that failed to boot: the server stops.
BOOT_ERROR = 3

try:
    app = create_app()
except GuardError as error:
    logging.getLogger(__name__).debug("The boot was refused", exc_info=True)
    print(f"Error: {error.message}", file=sys.stderr, flush=True)
    raise SystemExit(BOOT_ERROR) from None
