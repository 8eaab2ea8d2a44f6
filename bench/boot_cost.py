"""Cold boot at head: ``create_app()`` in check mode against a bare Flask + Flask-SQLAlchemy
app with the same models, on SQLite and PostgreSQL, in one run.

Each boot is a new Python process; the two kinds alternate, round after round, so that
both see the same machine. A process reports the time from its first line to a booted
app (interpreter start-up, the same for both, is left out) and its peak memory (the
kernel's high-water mark of its resident set, ``VmHWM``); its parent also times the
whole process. The bare app imports Ibutsu's models and calls ``db.init_app``: it
neither checks the URL, nor connects, nor registers the health endpoints.

Both sides run with bytecode, as an installed package has it (see ``bytecode.py``);
the warm-up boots fill it.

    python bench/boot_cost.py [--rounds 30] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bytecode import environment  # noqa: E402

from ibutsu_server import create_app  # noqa: E402
from ibutsu_server.testing import postgres  # noqa: E402

# Peak memory from /proc: getrusage's ru_maxrss keeps the parent's peak across fork and exec.
_REPORT = """
elapsed = (time.perf_counter() - started) * 1000
peak = next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM'))
print(elapsed, peak)
"""

BARE = (
    "import sys, time\n"
    "started = time.perf_counter()\n"
    "from flask import Flask\n"
    "from ibutsu_server.db import db\n"
    "import ibutsu_server.db.models\n"
    "app = Flask('ibutsu_server')\n"
    "app.config['SQLALCHEMY_DATABASE_URI'] = sys.argv[1]\n"
    "db.init_app(app)\n" + _REPORT
)

GUARDED = (
    "import sys, time\n"
    "started = time.perf_counter()\n"
    "from ibutsu_server import create_app\n"
    "app = create_app({'SQLALCHEMY_DATABASE_URI': sys.argv[1], 'IBUTSU_DB_MIGRATE': 'check'})\n"
    + _REPORT
)


def boot(script: str, url: str, bytecode: str) -> tuple[float, float, float]:
    """One cold boot, with bytecode under the folder ``bytecode``: the process's
    milliseconds from its first line, the milliseconds of the whole process as its
    parent sees them, and its peak memory in MiB."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, url],
        capture_output=True, text=True, check=True, env=environment(bytecode),
    )
    whole = (time.perf_counter() - started) * 1000
    milliseconds, kilobytes = done.stdout.split()
    return float(milliseconds), whole, int(kilobytes) / 1024


def compare(dialect: str, url: str, rounds: int, bytecode: str) -> None:
    bare: list[tuple[float, float, float]] = []
    guarded: list[tuple[float, float, float]] = []
    for warm_up in (BARE, GUARDED):  # the disk cache, bytecode, the guard's heads cache
        boot(warm_up, url, bytecode)
    for _ in range(rounds):
        bare.append(boot(BARE, url, bytecode))
        guarded.append(boot(GUARDED, url, bytecode))
    cells = []
    for column in range(3):
        ours = statistics.median(sample[column] for sample in guarded)
        theirs = statistics.median(sample[column] for sample in bare)
        if column < 2:
            cells.append(f"{theirs:.0f} | {ours:.0f} | {ours / theirs:.3f}x")
        else:
            cells.append(f"{theirs:.1f} | {ours:.1f} | {ours - theirs:+.1f}")
    # Each round's two boots ran one after the other: their ratio shrugs off the
    # machine's drift from round to round, which the ratio of the medians does not.
    paired = statistics.median(
        with_guard[0] / without[0] for with_guard, without in zip(guarded, bare)
    )
    cells.insert(1, f"{paired:.3f}x")
    print(f"| {dialect} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--postgres", default=postgres.LOCAL_SERVER_URL, help="server URL")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{folder}/ibutsu.db"
        maker = postgres.DatabaseMaker(arguments.postgres)
        name = postgres.unique_name()
        postgres_url = maker.create(name)
        try:
            for url in (sqlite_url, postgres_url):
                create_app({"SQLALCHEMY_DATABASE_URI": url, "IBUTSU_DB_MIGRATE": "upgrade"})
            print(f"Median of {arguments.rounds} cold boots of each, alternating, at head.\n")
            print(
                "| dialect | bare ms | create_app ms | ratio | ratio, median of each round's"
                " pair | bare ms, whole process | create_app ms, whole process | ratio"
                " | bare MiB | create_app MiB | more |"
            )
            print("|---" * 11 + "|")
            bytecode = os.path.join(folder, "bytecode")
            compare("SQLite", sqlite_url, arguments.rounds, bytecode)
            compare("PostgreSQL", postgres_url, arguments.rounds, bytecode)
        finally:
            maker.drop(name)


if __name__ == "__main__":
    main()
