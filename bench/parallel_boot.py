"""Sixteen processes booting at once in upgrade mode against one empty database, against one alone.

Each round creates an empty database and asks already-started worker processes
(``ibutsu_server.testing.boot_worker``: interpreter start-up and imports done)
to boot the app on it at the same moment. The wall time runs from the first
boot's start to the last boot's end. One process migrates under the lock; the
others wait for it, then find the database at head. Run from the repository root:

    python bench/parallel_boot.py [--postgres URL] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from ibutsu_server.testing import postgres
from ibutsu_server.testing.boot_pool import BootPool, wall_seconds


def run(pool: BootPool, make_url: Callable[[], str], rounds: int) -> list[float]:
    walls = []
    for _ in range(rounds):
        reports = pool.boot_all(
            {
                "SQLALCHEMY_DATABASE_URI": make_url(),
                "IBUTSU_DB_MIGRATE": "upgrade",
                "IBUTSU_DB_LOCK_TIMEOUT": 120,
            }
        )
        failed = [report["error"] for report in reports if not report["ok"]]
        if failed:
            raise SystemExit(f"a boot failed: {failed[0]}")
        walls.append(wall_seconds(reports) * 1000)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=postgres.LOCAL_SERVER_URL, help="server URL")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per measurement")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ibutsu-boot-"))
    counter = iter(range(10**6))
    created: list[str] = []

    def sqlite_url() -> str:
        return f"sqlite:///{workdir / f'db{next(counter)}.db'}"

    def postgres_url() -> str:
        name = postgres.unique_name("ibutsu_bench")
        created.append(name)
        return postgres.create_database(options.postgres, name)

    targets = [("SQLite", sqlite_url)]
    if postgres.server_answers(options.postgres):
        targets.append(("PostgreSQL", postgres_url))

    print("| dialect | 1 process alone, ms | 16 processes at once, ms | 16 / 1 |")
    print("|---|---|---|---|")
    try:
        with BootPool(1) as alone, BootPool(16) as sixteen:
            for dialect, make_url in targets:
                one = statistics.median(run(alone, make_url, options.rounds))
                many = statistics.median(run(sixteen, make_url, options.rounds))
                print(f"| {dialect} | {one:.0f} | {many:.0f} | {many / one:.2f} |")
    finally:
        for name in created:
            postgres.drop_database(options.postgres, name)


if __name__ == "__main__":
    main()
