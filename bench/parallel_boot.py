"""Sixteen processes booting at once in upgrade mode against one empty database, against one alone.

Each round creates an empty database and asks already-started worker processes
(``ibutsu_server.testing.boot_worker``: interpreter start-up and imports done)
to boot the app on it at the same moment. The wall time runs from the first
boot's start to the last boot's end. One process migrates under the lock; the
others wait for it, then find the database at head.

A third kind of round boots the sixteen on a database already at head: no
migration, no waiting, only what sixteen boots cost when they share this
machine's cores. The three kinds of rounds alternate, so that a drift in the
machine's speed touches them alike; each figure is the median of its rounds.
Run from the repository root:

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


def one_round(pool: BootPool, url: str) -> float:
    """Boot every worker of ``pool`` on ``url`` at once; the wall time in milliseconds."""
    reports = pool.boot_all(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "IBUTSU_DB_MIGRATE": "upgrade",
            "IBUTSU_DB_LOCK_TIMEOUT": 120,
        }
    )
    failed = [report["error"] for report in reports if not report["ok"]]
    if failed:
        raise SystemExit(f"a boot failed: {failed[0]}")
    return wall_seconds(reports) * 1000


def compare(
    alone: BootPool, sixteen: BootPool, make_url: Callable[[], str], rounds: int
) -> dict[str, list[float]]:
    """Wall times of each kind of round, the kinds taken in turn."""
    at_head = make_url()
    one_round(alone, at_head)
    walls: dict[str, list[float]] = {"alone": [], "sixteen": [], "at_head": []}
    for _ in range(rounds):
        walls["alone"].append(one_round(alone, make_url()))
        walls["sixteen"].append(one_round(sixteen, make_url()))
        walls["at_head"].append(one_round(sixteen, at_head))
    return walls


def summary(times: list[float]) -> str:
    return f"{statistics.median(times):.0f} (min {min(times):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=postgres.LOCAL_SERVER_URL, help="server URL")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per measurement")
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

    print(
        "| dialect | 1 process alone, ms | 16 at once, ms | 16 / 1 | 16 / 1, median of"
        " each round's pair | 16 at once on a database at head, ms |"
    )
    print("|---|---|---|---|---|---|")
    try:
        with BootPool(1) as alone, BootPool(16) as sixteen:
            for dialect, make_url in targets:
                walls = compare(alone, sixteen, make_url, options.rounds)
                one = statistics.median(walls["alone"])
                many = statistics.median(walls["sixteen"])
                paired = statistics.median(
                    m / o for o, m in zip(walls["alone"], walls["sixteen"])
                )
                print(
                    f"| {dialect} | {summary(walls['alone'])} | {summary(walls['sixteen'])}"
                    f" | {many / one:.2f} | {paired:.2f} | {summary(walls['at_head'])} |"
                )
    finally:
        for name in created:
            postgres.drop_database(options.postgres, name)


if __name__ == "__main__":
    main()
