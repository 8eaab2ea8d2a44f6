"""``flask db upgrade`` through the guard against plain ``alembic upgrade head``, and
against Flask-Migrate's ``flask db upgrade`` on the same app, on synthetic chains of 100
and 1,000 revisions, on PostgreSQL and SQLite, in one run.

All three run as commands in new processes, with bytecode as an installed package has
it (see ``bytecode.py``), after one warm-up run each, on a new empty database each time, one
transaction per revision (the guard's way; the other two are configured the same),
alternating round after round. Flask-Migrate pays the same start-up as the guard
(Flask, Flask-SQLAlchemy and the app), so the last column is what the guard itself
costs. The guard's run adds what makes it safe: the migration lock, the state read
before and after, the lock holder's watchdog, and a log line per revision. On
PostgreSQL over TCP the server proves the connection direct, so the guard skips its
check per transaction that the lock is still held (which runs when a pooler may stand
between).

A second table times the same upgrade inside one process (no start-up on either side),
the guard's again with that per-transaction check forced on, and again without its schema
history row per revision, to show what each costs.

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

# Migrates on the guard's connection when it gives one, else as plain Alembic does (the
# URL from alembic.ini; Flask-Migrate's run has none, and gets it from the environment).
ENV_PY = '''\
import os

from alembic import context

if "connection" in context.config.attributes:
    from flask_migration_guard.alembic_env import run_on_given_connection

    run_on_given_connection(context)
else:
    import sqlalchemy as sa

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

INI = """\
[alembic]
script_location = {scripts}
sqlalchemy.url = {url}
"""


def timed(command: list[str], folder: Path, url: str, scripts: Path) -> float:
    """Seconds one command takes, as its parent sees them."""
    variables = environment(
        str(folder / "bytecode"), BENCH_URL=url, BENCH_SCRIPTS=str(scripts), PYTHONPATH=ROOT
    )
    (folder / "alembic.ini").write_text(INI.format(scripts=scripts, url=url))
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, env=variables, check=True, capture_output=True)
    return time.perf_counter() - started


def compare(dialect: str, make_url: object, revisions: int, rounds: int, folder: Path) -> None:
    scripts = write_chain(folder / f"chain_{revisions}", revisions)
    (scripts / "env.py").write_text(ENV_PY)
    commands = {
        "alembic": [sys.executable, "-m", "alembic", "-c", "alembic.ini", "upgrade", "head"],
        "flask-migrate": [sys.executable, "-m", "flask", "--app", "bench_migrate_app", "db",
                          "upgrade"],
        "guard": [sys.executable, "-m", "flask", "--app", "bench_app", "db", "upgrade"],
    }
    for command in commands.values():  # a warm-up: bytecode, the guard's heads cache
        with make_url() as url:  # type: ignore[operator]
            timed(command, folder, url, scripts)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            with make_url() as url:  # type: ignore[operator]
                times[name].append(timed(command, folder, url, scripts))
    plain, migrate, ours = (statistics.median(times[name]) for name in commands)
    # Each round ran the three one after the other: their ratios within a round shrug
    # off the machine's drift between rounds, which the ratios of the medians do not.
    paired = statistics.median(
        guard / alembic for alembic, guard in zip(times["alembic"], times["guard"])
    )
    print(
        f"| {dialect} | {revisions} | {plain:.2f} | {migrate:.2f} | {ours:.2f}"
        f" | {ours / plain:.3f}x | {paired:.3f}x | {migrate / plain:.3f}x"
        f" | {ours / migrate:.3f}x |"
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
        print(f"Median of {arguments.rounds} runs of each, alternating, new database each.\n")
        print(
            "| dialect | revisions | alembic s | Flask-Migrate s | guard s | guard / alembic"
            " | guard / alembic, median of each round's pair | Flask-Migrate / alembic"
            " | guard / Flask-Migrate |"
        )
        print("|---" * 9 + "|")
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
