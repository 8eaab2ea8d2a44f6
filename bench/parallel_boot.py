"""Sixteen processes booting at once in upgrade mode against one empty database, against one alone.

Each round creates an empty database and asks already-started worker processes
(``tests/boot_worker.py``: interpreter start-up and imports done)
to boot the app on it at the same moment. The wall time runs from the first
boot's start to the last boot's end. One process migrates under the lock; the
others wait for it, then find the database at head.

A third kind of round boots the sixteen on a database already at head: no
migration, no waiting, only what sixteen boots cost when they share this
machine's cores. The three kinds of rounds alternate, so that a drift in the
machine's speed touches them alike; each figure is the median of its rounds.

Where ``/proc/stat`` exists (Linux), each round also counts the CPU time the
whole machine spent during it: the app processes, the database server's
backends and the kernel. Divided by the number of cores, it is the least wall
time the sixteen could take on this machine however they were scheduled; over
one process alone, the best ratio this machine allows.
Run from the repository root:

    python bench/parallel_boot.py [--postgres URL] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ibutsu_server.testing import postgres

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from boot_pool import BootPool, wall_seconds  # noqa: E402


def machine_cpu_ms() -> float | None:
    """CPU time the machine has spent busy since it booted, all cores, in ms; ``None`` off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return None
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) * 1000 / os.sysconf("SC_CLK_TCK")


def one_round(pool: BootPool, url: str) -> tuple[float, float | None]:
    """Boot every worker of ``pool`` on ``url`` at once.

    :return: the wall time and the machine's busy CPU time during it, in milliseconds.
    """
    cpu_before = machine_cpu_ms()
    reports = pool.boot_all(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "IBUTSU_DB_MIGRATE": "upgrade",
            "IBUTSU_DB_LOCK_TIMEOUT": 120,
        }
    )
    cpu_after = machine_cpu_ms()
    failed = [report["error"] for report in reports if not report["ok"]]
    if failed:
        raise SystemExit(f"a boot failed: {failed[0]}")
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return wall_seconds(reports) * 1000, cpu


def compare(
    alone: BootPool, sixteen: BootPool, make_url: Callable[[], str], rounds: int
) -> tuple[dict[str, list[float]], list[float]]:
    """Wall times of each kind of round, the kinds taken in turn, and the CPU
    times of the rounds of sixteen on an empty database (none off Linux)."""
    at_head = make_url()
    one_round(alone, at_head)
    walls: dict[str, list[float]] = {"alone": [], "sixteen": [], "at_head": []}
    cpu: list[float] = []
    for _ in range(rounds):
        walls["alone"].append(one_round(alone, make_url())[0])
        wall, busy = one_round(sixteen, make_url())
        walls["sixteen"].append(wall)
        if busy is not None:
            cpu.append(busy)
        walls["at_head"].append(one_round(sixteen, at_head)[0])
    return walls, cpu


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

    cores = os.cpu_count() or 1
    print(
        "| dialect | 1 process alone, ms | 16 at once, ms | 16 / 1 | 16 / 1, median of"
        " each round's pair | 16 at once on a database at head, ms |"
        f" CPU of 16 at once / {cores} cores, ms | best 16 / 1 these cores allow |"
    )
    print("|---|---|---|---|---|---|---|---|")
    try:
        with BootPool(1) as alone, BootPool(16) as sixteen:
            for dialect, make_url in targets:
                walls, cpu = compare(alone, sixteen, make_url, options.rounds)
                one = statistics.median(walls["alone"])
                many = statistics.median(walls["sixteen"])
                paired = statistics.median(
                    m / o for o, m in zip(walls["alone"], walls["sixteen"])
                )
                least = statistics.median(cpu) / cores if cpu else None
                bound = f"{least:.0f} | {least / one:.2f}" if least else "n/a | n/a"
                print(
                    f"| {dialect} | {summary(walls['alone'])} | {summary(walls['sixteen'])}"
                    f" | {many / one:.2f} | {paired:.2f} | {summary(walls['at_head'])}"
                    f" | {bound} |"
                )
    finally:
        for name in created:
            postgres.drop_database(options.postgres, name)


if __name__ == "__main__":
    main()
