"""Per-test cost of a fresh migrated database: replaying migrations against cloning a template.

For each dialect (SQLite, PostgreSQL) and each script directory (the real
Ibutsu chain, and synthetic chains of 10, 100 and 1,000 revisions over the same
three tables), it times, side by side in one run:

- replay: create an empty database, run every migration to head, drop it;
- template: clone the migrated template (CREATE DATABASE ... TEMPLATE on the
  open connection the plugin keeps, or a file copy), then drop it: what
  ``ibutsu_db_url`` costs per test; on PostgreSQL in the default tablespace and,
  with --tablespace or IBUTSU_TEST_POSTGRES_TABLESPACE, in that one as well;
- transaction: begin, bind ``db.session`` with SAVEPOINTs, roll back: what
  ``ibutsu_db_session`` costs per test (real chain only; the schema is the same).

The one-time template build is reported too. Run from the repository root:

    python bench/fresh_database.py [--postgres URL] [--tablespace NAME] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_chain import write_chain  # noqa: E402

from ibutsu_server import MIGRATIONS_DIR, create_app  # noqa: E402
from ibutsu_server.testing import postgres, templates  # noqa: E402
from ibutsu_server.testing.migrate import migrate_to_head  # noqa: E402
from ibutsu_server.testing.transaction import rolled_back_session  # noqa: E402


def timed(action: Callable[[], None], repeat: int) -> list[float]:
    """Milliseconds each of ``repeat`` runs of ``action`` took."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    return f"{statistics.median(times):.1f} (min {min(times):.1f}, n={len(times)})"


class Sqlite:
    name = "SQLite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.counter = 0

    def _path(self) -> Path:
        self.counter += 1
        return self.workdir / f"db{self.counter}.db"

    def replay(self, directory: str) -> None:
        path = self._path()
        migrate_to_head(f"sqlite:///{path}", directory)
        path.unlink()

    def build_template(self, directory: str) -> str:
        key = templates.migrations_key(directory)
        folder = str(self.workdir / "templates")
        return templates.ensure_sqlite_template(
            folder, key, lambda url: migrate_to_head(url, directory)
        )

    def clone(self, template: str) -> None:
        path = self._path()
        templates.clone_sqlite(template, str(path))
        path.unlink()

    def template_url(self, template: str) -> str:
        return templates.clone_sqlite(template, str(self._path()))

    def drop_url(self, url: str) -> None:
        Path(url.removeprefix("sqlite:///")).unlink()


class Postgres:
    """Databases on one server, in the default tablespace or in ``tablespace``."""

    def __init__(self, server: str, tablespace: str | None = None) -> None:
        self.server = server
        self.tablespace = tablespace
        self.name = f"PostgreSQL, tablespace {tablespace}" if tablespace else "PostgreSQL"
        self.built: set[str] = set()
        self.maker = postgres.DatabaseMaker(server)  # one open connection, as the plugin keeps

    def replay(self, directory: str) -> None:
        name = postgres.unique_name("ibutsu_bench")
        url = self.maker.create(name, tablespace=self.tablespace)
        try:
            migrate_to_head(url, directory)
        finally:
            self.maker.drop(name)

    def build_template(self, directory: str) -> str:
        key = templates.migrations_key(directory)
        if key not in self.built:  # time a real build, not one left by an earlier run
            templates.drop_postgres_template(self.server, key, self.tablespace)
            self.built.add(key)
        return templates.ensure_postgres_template(
            self.server, key, lambda url: migrate_to_head(url, directory), self.tablespace
        )

    def clone(self, template: str) -> None:
        name = postgres.unique_name("ibutsu_bench")
        self.maker.create(name, template, self.tablespace)
        self.maker.drop(name)

    def template_url(self, template: str) -> str:
        return self.maker.create(postgres.unique_name("ibutsu_bench"), template, self.tablespace)

    def drop_url(self, url: str) -> None:
        self.maker.drop(url.rsplit("/", 1)[1])

    def drop_synthetic_templates(self, chains: dict[str, str]) -> None:
        """The synthetic chains' templates serve no test run: drop them."""
        for label, directory in chains.items():
            if label.startswith("synthetic"):
                key = templates.migrations_key(directory)
                templates.drop_postgres_template(self.server, key, self.tablespace)
        self.maker.close()


def transaction_cost(url: str, repeat: int) -> list[float]:
    from ibutsu_server.db import db
    from ibutsu_server.db.models import Project

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "IBUTSU_DB_MIGRATE": "check"})

    def one_test() -> None:
        with rolled_back_session() as session:
            session.add(Project(name="bench"))
            session.commit()

    with app.app_context():
        one_test()  # warm the pool and the mappers
        times = timed(one_test, repeat)
        db.engine.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=postgres.LOCAL_SERVER_URL, help="server URL")
    parser.add_argument(
        "--tablespace",
        default=os.environ.get(postgres.TABLESPACE_VARIABLE),
        help=f"also measure clones in this tablespace (default: ${postgres.TABLESPACE_VARIABLE})",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ibutsu-bench-"))
    chains = {"real (6)": MIGRATIONS_DIR}
    for size in (10, 100, 1000):
        chains[f"synthetic {size}"] = str(write_chain(workdir / f"chain{size}", size))
    dialects: list[Sqlite | Postgres] = [Sqlite(workdir)]
    if postgres.server_answers(options.postgres):
        dialects.append(Postgres(options.postgres))
        if options.tablespace:
            dialects.append(Postgres(options.postgres, options.tablespace))
    clones = 10 if options.quick else 40

    print(
        "| dialect | chain | replay ms/test | template ms/test | replay / template"
        " | template build ms |"
    )
    print("|---|---|---|---|---|---|")
    template_medians: dict[tuple[str, str], float] = {}
    for dialect in dialects:
        for label, directory in chains.items():
            build_started = time.perf_counter()
            template = dialect.build_template(directory)
            build_ms = (time.perf_counter() - build_started) * 1000
            replays = 1 if "1000" in label else (3 if options.quick else 5)
            replay = timed(lambda d=dialect, folder=directory: d.replay(folder), replays)
            # SQLite copies take ~0.1 ms: many more of them keep the median steady
            repeat = clones * 10 if isinstance(dialect, Sqlite) else clones
            clone = timed(lambda d=dialect, made=template: d.clone(made), repeat)
            template_medians[(dialect.name, label)] = statistics.median(clone)
            ratio = statistics.median(replay) / statistics.median(clone)
            print(
                f"| {dialect.name} | {label} | {summary(replay)} | {summary(clone)} |"
                f" {ratio:.0f}x | {build_ms:.0f} |"
            )
    print()
    for dialect in dialects:
        small = template_medians[(dialect.name, "synthetic 10")]
        large = template_medians[(dialect.name, "synthetic 1000")]
        print(f"{dialect.name}: template cost at 1,000 revisions / at 10 = {large / small:.2f}")
    print()
    print("| dialect | rolled-back transaction ms/test |")
    print("|---|---|")
    for dialect in dialects:
        template = dialect.build_template(MIGRATIONS_DIR)
        url = dialect.template_url(template)
        try:
            print(f"| {dialect.name} | {summary(transaction_cost(url, 200))} |")
        finally:
            dialect.drop_url(url)
    for dialect in dialects:
        if isinstance(dialect, Postgres):
            dialect.drop_synthetic_templates(chains)


if __name__ == "__main__":
    main()
