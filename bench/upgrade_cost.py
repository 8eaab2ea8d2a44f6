"""``flask db upgrade`` through the guard against plain ``alembic upgrade head``, and
against Flask-Migrate's ``flask db upgrade`` on the same app, on synthetic chains of 100
and 1,000 revisions, on PostgreSQL and SQLite, in one run.

All run as commands in new processes, with bytecode as an installed package has it (see
``bytecode.py``), after one warm-up run each, on a new empty database each time, one
transaction per revision (the guard's way; the others are configured the same),
alternating round after round. Ratios are the median of each round's own ratio, which
shrugs off the machine's drift between rounds.

Five commands:

- ``alembic``: Alembic's own command with an env.py that imports nothing but SQLAlchemy;
- ``alembic, app's env.py``: the same, with an env.py that imports the Flask app's module,
  as the env.py of a Flask-SQLAlchemy project does to reach its models (Ibutsu's does):
  the start-up of Flask and Flask-SQLAlchemy, without Flask's command line;
- ``Flask-Migrate``: ``flask db upgrade`` through Flask-Migrate, on the same app;
- ``guard``: ``flask db upgrade`` through the guard: the migration lock, the state read
  before and after, a log line and a schema history row per revision;
- ``guard, no history``: the same with the history row switched off (by the bench only),
  to show what the row costs.

A second table times the same upgrade inside one process (no start-up on either side),
the guard's again with its per-transaction check that the lock is still held forced on
(it runs when a pooler may stand between; on PostgreSQL over TCP the server proves the
connection direct and the guard skips it), and again without its history row.

    python bench/upgrade_cost.py [--rounds 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bytecode import environment  # noqa: E402
from synthetic_chain import write_chain  # noqa: E402

from ibutsu_server.testing import postgres  # noqa: E402

#: A command's arguments, and the environment variables it runs with beyond the common.
Command = tuple[list[str], dict[str, str]]

# Migrates on the guard's connection when it gives one, else as plain Alembic does (the
# URL from alembic.ini; Flask-Migrate's run has none, and gets it from the environment),
# after importing the app's module when BENCH_APP_MODULE names one.
ENV_PY = '''\
import importlib
import os

from alembic import context

if "connection" in context.config.attributes:
    from flask_migration_guard.alembic_env import run_on_given_connection

    run_on_given_connection(context)
else:
    import sqlalchemy as sa

    if os.environ.get("BENCH_APP_MODULE"):
        importlib.import_module(os.environ["BENCH_APP_MODULE"])

    url = context.config.get_main_option("sqlalchemy.url") or os.environ["BENCH_URL"]
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
'''

APP = '''\
import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_migration_guard import MigrationGuard

db = SQLAlchemy()


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["BENCH_URL"]
    db.init_app(app)
    MigrationGuard(app, directory=os.environ["BENCH_SCRIPTS"])
    return app
'''
#: The same app with Flask-Migrate instead of the guard.
MIGRATE_APP = APP.replace(
    "flask_migration_guard import MigrationGuard", "flask_migrate import Migrate"
).replace("MigrationGuard(app, directory", "Migrate(app, db, directory")

#: The same app with no migration extension: what a project's env.py imports.
BARE_APP = APP.replace("\nfrom flask_migration_guard import MigrationGuard\n", "").replace(
    "    MigrationGuard(app, directory=os.environ[\"BENCH_SCRIPTS\"])\n", ""
)

#: The guard's app with the schema history row switched off, for this benchmark only, as
#: :func:`in_process` switches it off: a recorder that records nothing never has a row to
#: ride along either.
UNRECORDED_APP = APP + '''

from flask_migration_guard.history import HistoryRecorder

HistoryRecorder.__call__ = lambda *_, **__: None
'''

INI = """\
[alembic]
script_location = {scripts}
sqlalchemy.url = {url}
"""


def timed(command: Command, folder: Path, url: str, scripts: Path) -> float:
    """Seconds one command takes, as its parent sees them."""
    arguments, extra = command
    variables = environment(
        str(folder / "bytecode"),
        BENCH_URL=url,
        BENCH_SCRIPTS=str(scripts),
        PYTHONPATH=ROOT,
        **extra,
    )
    (folder / "alembic.ini").write_text(INI.format(scripts=scripts, url=url))
    started = time.perf_counter()
    subprocess.run(arguments, cwd=folder, env=variables, check=True, capture_output=True)
    return time.perf_counter() - started


def compare(dialect: str, make_url: object, revisions: int, rounds: int, folder: Path) -> None:
    scripts = write_chain(folder / f"chain_{revisions}", revisions)
    (scripts / "env.py").write_text(ENV_PY)
    alembic = [sys.executable, "-m", "alembic", "-c", "alembic.ini", "upgrade", "head"]

    def flask(app: str) -> list[str]:
        return [sys.executable, "-m", "flask", "--app", app, "db", "upgrade"]

    commands: dict[str, Command] = {
        "alembic": (alembic, {}),
        "alembic, app": (alembic, {"BENCH_APP_MODULE": "bench_bare_app"}),
        "flask-migrate": (flask("bench_migrate_app"), {}),
        "guard": (flask("bench_app"), {}),
        "no history": (flask("bench_unrecorded_app"), {}),
    }
    for command in commands.values():  # a warm-up: bytecode, the guard's heads cache
        with make_url() as url:  # type: ignore[operator]
            timed(command, folder, url, scripts)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            with make_url() as url:  # type: ignore[operator]
                times[name].append(timed(command, folder, url, scripts))

    def paired(name: str, base: str) -> str:
        return f"{statistics.median(a / b for a, b in zip(times[name], times[base])):.3f}x"

    seconds = " | ".join(f"{statistics.median(series):.2f}" for series in times.values())
    print(
        f"| {dialect} | {revisions} | {seconds} | {paired('guard', 'alembic')}"
        f" | {paired('flask-migrate', 'alembic')} | {paired('guard', 'flask-migrate')}"
        f" | {paired('guard', 'alembic, app')} | {paired('no history', 'alembic, app')} |"
    )


class _Databases:
    """A new empty database per run: a SQLite file, or a PostgreSQL database dropped after."""

    def __init__(self, folder: Path, server: str | None) -> None:
        self.folder = folder
        self.maker = postgres.DatabaseMaker(server) if server else None
        self.count = 0

    def __call__(self) -> _Databases:
        return self

    def __enter__(self) -> str:
        self.count += 1
        if self.maker is None:
            return f"sqlite:///{self.folder}/run{self.count}.db"
        self.name = postgres.unique_name()
        return self.maker.create(self.name)

    def __exit__(self, *_: object) -> None:
        if self.maker is not None:
            self.maker.drop(self.name)


def in_process(server: str, revisions: int, rounds: int, folder: Path) -> None:
    """The upgrade alone, in this process: plain Alembic, the guard, the guard with its
    per-transaction lock check forced on, and the guard writing no schema history,
    alternating on new PostgreSQL databases."""
    from alembic import command
    from alembic.config import Config
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    import flask_migration_guard.history as history
    import flask_migration_guard.lock as lock
    from flask_migration_guard import MigrationGuard, Names
    from flask_migration_guard.appstate import app_guard

    scripts = folder / f"chain_{revisions}"
    databases = _Databases(folder, server)
    proves_direct = lock._direct
    records = history.HistoryRecorder.__call__
    times: dict[str, list[float]] = {
        "alembic": [],
        "guard": [],
        "guard, lock check forced": [],
        "guard, no history": [],
    }
    for _ in range(rounds):
        for label, series in times.items():
            with databases() as url:
                started = time.perf_counter()
                if label == "alembic":
                    config = Config()
                    config.set_main_option("script_location", str(scripts))
                    config.set_main_option("sqlalchemy.url", url)
                    command.upgrade(config, "head")
                else:
                    never_direct = lambda *_: False  # noqa: E731
                    forced = label == "guard, lock check forced"
                    lock._direct = never_direct if forced else proves_direct
                    unrecorded = lambda *_, **__: None  # noqa: E731
                    history.HistoryRecorder.__call__ = (  # type: ignore[method-assign]
                        unrecorded if label == "guard, no history" else records
                    )
                    app = Flask(__name__)
                    app.config.update(SQLALCHEMY_DATABASE_URI=url)
                    SQLAlchemy(app)
                    MigrationGuard(
                        app,
                        directory=str(scripts),
                        names=Names(command=None, prefix="BENCH_"),
                        default_mode="off",
                    )
                    started = time.perf_counter()
                    app_guard(app).runner.upgrade()
                series.append(time.perf_counter() - started)
    lock._direct = proves_direct
    history.HistoryRecorder.__call__ = records  # type: ignore[method-assign]
    plain = statistics.median(times["alembic"])
    for label, series in times.items():
        ours = statistics.median(series)
        print(f"| {label} | {ours:.2f} | {ours / plain:.3f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default=postgres.LOCAL_SERVER_URL, help="server URL")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "bench_app.py").write_text(APP)
        (folder / "bench_migrate_app.py").write_text(MIGRATE_APP)
        (folder / "bench_unrecorded_app.py").write_text(UNRECORDED_APP)
        (folder / "bench_bare_app.py").write_text(BARE_APP)
        print(
            f"Median of {arguments.rounds} runs of each, alternating, new database each;"
            " ratios are the median of each round's own.\n"
        )
        print(
            "| dialect | revisions | alembic s | alembic, app's env.py s | Flask-Migrate s"
            " | guard s | guard, no history s | guard / alembic | Flask-Migrate / alembic"
            " | guard / Flask-Migrate | guard / alembic, app's env.py"
            " | guard, no history / alembic, app's env.py |"
        )
        print("|---" * 12 + "|")
        for dialect, server in (("PostgreSQL", arguments.postgres), ("SQLite", None)):
            databases = _Databases(folder, server)
            for revisions in (100, 1000):
                compare(dialect, databases, revisions, arguments.rounds, folder)
        print("\nPostgreSQL, 1000 revisions, the upgrade alone in one process:\n")
        print("| run | s | ratio |")
        print("|---|---|---|")
        logging.disable(logging.WARNING)  # unlogged: the guard logs each revision, warns of off
        in_process(arguments.postgres, 1000, arguments.rounds, folder)


if __name__ == "__main__":
    main()
