"""What the schema history row costs a revision on PostgreSQL, the server's part apart.

Each "revision" here is one transaction, as under the guard: an ``ALTER TABLE`` on an
empty table, then the version table's ``UPDATE`` as Alembic writes it (the ids inline),
then ``COMMIT``. Four ways, alternating, on one connection of a new database:

- ``bare``: the version ``UPDATE`` alone, as plain Alembic;
- ``one-integer row``: the ``UPDATE`` carrying the smallest row there is, a ``WITH``
  clause inserting one integer into a table of one column;
- ``history row, riding along``: the ``UPDATE`` carrying the guard's history row, as the
  guard writes it from a run's second revision on;
- ``history row, own statement``: the same row in an ``INSERT`` of its own.

The history row is the guard's own, made per revision by its recorder.

    python bench/history_row.py [--rounds 9] [--revisions 200] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask_migration_guard.history import HistoryRecorder  # noqa: E402
from flask_migration_guard.naming import DEFAULT_NAMES  # noqa: E402
from ibutsu_server.testing import postgres  # noqa: E402

VERSION = "alembic_version"


def _ways(connection: sa.Connection, count: int) -> dict[str, Callable[[str, int], None]]:
    """Each way of writing ``count`` revisions' version, by the label it is printed with."""
    checksums = {f"{index:012x}": "0" * 64 for index in range(count + 1)}
    recorder = HistoryRecorder(DEFAULT_NAMES, checksums)

    def _row(index: int) -> dict[str, Any]:
        """The row the guard writes, made by the recorder itself, for a synthetic revision."""
        script = SimpleNamespace(
            revision=f"{index:012x}", down_revision=f"{index - 1:012x}", path="",
            module=None, doc=f"synthetic revision {index}",
        )
        return recorder._row(script, True)

    row_sql = str(recorder.insert.compile(dialect=connection.dialect, column_keys=list(_row(1))))
    run = connection.exec_driver_sql
    return {
        "bare": lambda update, _: run(update),
        "one-integer row": lambda update, index: run(
            f"WITH recorded AS (INSERT INTO bench_one (x) VALUES (%(x)s)) {update}", {"x": index}
        ),
        "history row, riding along": lambda update, index: run(
            f"WITH recorded AS ({row_sql}) {update}", _row(index)
        ),
        "history row, own statement": lambda update, index: (
            run(row_sql, _row(index)), run(update)
        ),
    }


def _revisions(connection: sa.Connection, way: Callable[[str, int], None], count: int) -> float:
    """Microseconds a revision takes, over ``count`` of them."""
    started = time.perf_counter()
    for index in range(1, count + 1):
        column = f"c{(index + 1) // 2}"
        alter = "ADD COLUMN {} integer" if index % 2 else "DROP COLUMN {}"
        connection.exec_driver_sql(f"ALTER TABLE bench_t {alter.format(column)}")
        way(
            f"UPDATE {VERSION} SET version_num='{index:012x}'"
            f" WHERE {VERSION}.version_num = '{index - 1:012x}'",
            index,
        )
        connection.commit()
    elapsed = (time.perf_counter() - started) / count * 1e6
    connection.exec_driver_sql("DROP TABLE bench_t")  # a table has room for 1600 columns
    connection.exec_driver_sql("CREATE TABLE bench_t (id integer)")
    connection.exec_driver_sql(f"UPDATE {VERSION} SET version_num='{0:012x}'")
    connection.commit()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--revisions", type=int, default=200)
    parser.add_argument("--postgres", default=postgres.LOCAL_SERVER_URL, help="server URL")
    arguments = parser.parse_args()
    maker = postgres.DatabaseMaker(arguments.postgres)
    name = postgres.unique_name()
    engine = sa.create_engine(maker.create(name))
    try:
        with engine.connect() as connection:
            HistoryRecorder(DEFAULT_NAMES).table.create(connection)
            for statement in (
                f"CREATE TABLE {VERSION} (version_num varchar(32) PRIMARY KEY)",
                f"INSERT INTO {VERSION} VALUES ('{0:012x}')",
                "CREATE TABLE bench_one (x integer)",
                "CREATE TABLE bench_t (id integer)",
            ):
                connection.exec_driver_sql(statement)
            connection.commit()
            ways = _ways(connection, arguments.revisions)
            times: dict[str, list[float]] = {label: [] for label in ways}
            for _ in range(arguments.rounds):
                for label, way in ways.items():
                    times[label].append(_revisions(connection, way, arguments.revisions))
    finally:
        engine.dispose()
        maker.drop(name)
    print(f"{arguments.revisions} revisions a round, {arguments.rounds} rounds, alternating.\n")
    print("| way | µs a revision | more than bare, µs | paired ratio to bare |")
    print("|---|---|---|---|")
    bare = times["bare"]
    for label, series in times.items():
        ratio = statistics.median(ours / theirs for ours, theirs in zip(series, bare))
        more = statistics.median(ours - theirs for ours, theirs in zip(series, bare))
        print(f"| {label} | {statistics.median(series):.0f} | {more:.0f} | {ratio:.3f}x |")


if __name__ == "__main__":
    main()
