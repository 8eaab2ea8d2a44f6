"""Field faults reproduced on PostgreSQL: what the guard does, and how long recovery takes.

Eight faults, each measured a few rounds, every round on a database of its own
that is dropped afterwards:

1. ``idle_session_timeout = 1 s`` on the database: four boots at once (the
   ``slow`` test scenario, two revisions of a second each), against the same
   without the setting;
2. eight boots at once through PgBouncer in transaction mode, then in session
   mode, and after them a boot on a direct URL;
3. SIGTERM, then SIGINT, while revision 2 of the ``sleeping`` scenario runs its
   60 s statement on the server; then the next boot;
4. SIGKILL in the same place: when the server ends the orphaned statement and
   frees the lock;
5. the lock holder's backend ended (``pg_terminate_backend``) during revision 2
   of the ``slow`` scenario; then the next boot;
6. a throwaway server stopped during revision 2 and started again; then the
   next boot;
7. ``/api/health/database`` through a TCP forwarder that stops moving bytes;
8. a boot in upgrade mode on a hot standby.

Boots run in child processes (``tests/guard_processes.py``) that are started
and imported first, then told to start; a boot's time runs from that moment to
the child's exit. Times after a fault run from the fault (the signal, the
terminate call, the start of the server's stop) to the first poll that sees
the change: the polls come about every 50 ms (20 ms apart, plus their own
queries), which is the resolution of those figures. Seconds, median (min–max)
over the rounds.

Needs a PostgreSQL server where the user may create databases (the local one by
default); faults 2, 6 and 8 also need ``pgbouncer`` and PostgreSQL 15's server
binaries (``initdb``, ``pg_ctl``, ``pg_basebackup``). Run from the repository
root, with the test extra installed:

    python bench/failure_recovery.py [--postgres URL] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from guard_databases import HEAD, app_config, execute, migrate_to  # noqa: E402
from guard_processes import (  # noqa: E402
    Process,
    Processes,
    TcpForwarder,
    ThrowawayServer,
    advisory_lock_held,
    advisory_lock_holders,
    boot_config,
    free_port,
    hot_standby,
    query,
    spawned,
    table_names,
    throwaway_server,
    wait_until,
)
from pgbouncer import pgbouncer  # noqa: E402
from test_guard_concurrency import applied, chain  # noqa: E402

from ibutsu_server import create_app  # noqa: E402
from flask_migration_guard.lock import SESSION_BOUND  # noqa: E402
from ibutsu_server.health import DATABASE_CHECK_TIMEOUT  # noqa: E402
from ibutsu_server.testing import postgres  # noqa: E402

Round = dict[str, Any]

#: What ends a round as failed: any error, and what the test helpers raise when a
#: bounded wait runs out (``pytest.fail``) or no throwaway server can be had (``pytest.skip``).
ROUND_FAILURES: tuple[type[BaseException], ...] = (
    Exception,
    pytest.fail.Exception,
    pytest.skip.Exception,
)

SLOW = chain("slow")
SLEEPING = chain("sleeping")
#: The long statement of the ``sleeping`` scenario's revision 2, in seconds.
STATEMENT_SECONDS = 60
#: pg_stat_activity rows of that statement: how long it has run so far.
_SLEEPING = (
    "SELECT extract(epoch FROM clock_timestamp() - query_start)::float"
    " FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
    " AND query LIKE 'SELECT pg_sleep(60)%'"
)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Bench:
    """The server the databases are made on, and a folder for each round's children."""

    def __init__(self, server: str, rounds: int) -> None:
        self.server = server
        self.rounds = rounds
        self.root = Path(tempfile.mkdtemp(prefix="ibutsu-failures-"))

    def directory(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.root))

    def repeat(self, what: str, measure: Callable[[], Round]) -> list[Round]:
        """``measure`` once per round; a round that fails is kept as ``{"failed": why}``."""
        return [attempt(f"{what}, round {number + 1}/{self.rounds}", measure)
                for number in range(self.rounds)]


def attempt(what: str, measure: Callable[[], Round]) -> Round:
    """Run one measurement; on any failure report it and return ``{"failed": why}``."""
    progress(what)
    started = time.monotonic()
    try:
        result = measure()
    except ROUND_FAILURES as exc:
        text = str(exc).strip() or type(exc).__name__
        progress(f"  FAILED: {type(exc).__name__}: {text[:3000]}")
        return {"failed": f"{type(exc).__name__}: {text.splitlines()[0][:200]}"}
    progress(f"  done in {time.monotonic() - started:.1f} s")
    return result


@contextmanager
def fresh_database(server_url: str) -> Iterator[tuple[str, str]]:
    """A new empty database on the server of ``server_url``: its URL and name; dropped at exit."""
    name = postgres.unique_name("ibutsu_bench")
    url = postgres.create_database(server_url, name)
    try:
        yield url, name
    finally:
        postgres.drop_database(server_url, name)


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Environment variables for the children started within the block."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def boot_together(
    processes: Processes, config: dict[str, Any], count: int, name: str
) -> tuple[list[Process], float]:
    """Boot ``count`` children on ``config`` at the same moment.

    :return: the children, exited, and the seconds from their start to the last exit.
    """
    start = processes.directory / f"{name}.start"
    boots = [processes.boot(config, f"{name}{number}", start) for number in range(count)]
    for process in boots:
        process.wait_for("READY")
    started = time.monotonic()
    start.touch()
    for process in boots:
        process.wait(timeout=180)
    return boots, time.monotonic() - started


def next_boot(processes: Processes, config: dict[str, Any], name: str = "again") -> float:
    """Seconds one boot on ``config`` takes to bring the database to head."""
    [process], took = boot_together(processes, config, 1, name)
    result = process.result()
    if result.get("state") != "at_head":
        raise RuntimeError(f"the next boot did not reach head: {result}")
    return took


def first_times(
    conditions: dict[str, Callable[[], bool]], since: float, timeout: float
) -> dict[str, float | None]:
    """Seconds from ``since`` (``time.monotonic()``) until each condition first held.

    The conditions are polled together, so that each gets its own time whatever
    the order in which they come true; one that never held within ``timeout``
    seconds of ``since`` is ``None``.
    """
    times: dict[str, float | None] = dict.fromkeys(conditions)
    while time.monotonic() < since + timeout:
        for what, holds in conditions.items():
            if times[what] is None and holds():
                times[what] = time.monotonic() - since
        if None not in times.values():
            break
        time.sleep(0.02)
    return times


def exited(process: Process) -> Callable[[], bool]:
    return lambda: process.popen.poll() is not None


def lock_free(url: str) -> Callable[[], bool]:
    return lambda: not advisory_lock_held(url)


def outcome(process: Process) -> str:
    """``at_head``, ``pooler named`` (a stop whose message names the pooler) or the error."""
    result = process.result()
    if "state" in result:
        return str(result["state"])
    if "pool_mode = transaction" in result.get("message", ""):
        return "pooler named"
    return str(result.get("error"))


def applications(url: str) -> dict[str, int]:
    """How many times each revision of the ``slow`` scenario was applied (its applied_log)."""
    if "applied_log" not in table_names(url):
        return {}
    rows = query(url, "SELECT revision, count(*) FROM applied_log GROUP BY revision")
    return {str(revision): int(count) for revision, count in rows}


def version(url: str) -> str:
    rows = query(url, "SELECT version_num FROM alembic_version")
    return ", ".join(str(row[0]) for row in rows) or "none"


# 1. idle_session_timeout

#: Logged by a waiter whose connection the server closed.
RECONNECTED = "Lost the database connection while waiting for the migration lock"


def idle_sessions(bench: Bench, timeout_set: bool) -> Round:
    with fresh_database(bench.server) as (url, name), spawned(bench.directory()) as processes:
        if timeout_set:
            execute(url, f'ALTER DATABASE "{name}" SET idle_session_timeout = 1000')
        config = boot_config(url, "slow", IBUTSU_DB_LOCK_TIMEOUT=60)
        boots, wall = boot_together(processes, config, 4, "boot")
        return {
            "outcomes": Counter(outcome(process) for process in boots),
            "applied": applications(url),
            "migrated": sum(1 for process in boots if applied(process)),
            "reconnected": sum(1 for process in boots if RECONNECTED in process.log),
            "wall": wall,
        }


# 2. PgBouncer

#: Logged by a waiter whose new server session is the one holding the lock for another client.
SHARED_SESSION = "already holds the migration lock for another client"
#: Logged by a holder whose unlock reached another server session than the lock's.
SESSION_ENDED = "that session was ended to release it"


def pooled(bench: Bench, mode: str) -> Round:
    """Eight boots through PgBouncer in ``mode`` (pool sizes as in tests/test_pooler.py)."""
    pool_size = 4 if mode == "transaction" else 20
    with (
        fresh_database(bench.server) as (url, name),
        pgbouncer(bench.server, mode, pool_size) as template,
        spawned(bench.directory()) as processes,
    ):
        config = boot_config(template.format(database=name), "slow", IBUTSU_DB_LOCK_TIMEOUT=120)
        boots, wall = boot_together(processes, config, 8, "boot")
        result: Round = {
            "outcomes": Counter(outcome(process) for process in boots),
            "applied": applications(url),
            "migrated": sum(1 for process in boots if applied(process)),
            "lock_left": advisory_lock_held(url),
            "shared": sum(1 for process in boots if SHARED_SESSION in process.log),
            "ended": sum(1 for process in boots if SESSION_ENDED in process.log),
            "wall": wall,
        }
        direct = boot_config(url, "slow", IBUTSU_DB_LOCK_TIMEOUT=120)
        result["direct"] = next_boot(processes, direct)
        return result


# 3 and 4. Signals during a long statement


def sleeping(url: str) -> list[float]:
    """How long each run of revision 2's long statement has run so far, seconds."""
    return [float(row[0]) for row in query(url, _SLEEPING)]


def signalled(bench: Bench, signum: signal.Signals) -> Round:
    directory = bench.directory()
    marker = directory / "marker"
    with (
        fresh_database(bench.server) as (url, _),
        environment(IBUTSU_TEST_MARKER=str(marker)),
        spawned(directory) as processes,
    ):
        config = boot_config(url, "sleeping", IBUTSU_DB_LOCK_TIMEOUT=60)
        process = processes.boot(config, "migrating")
        wait_until(marker.exists, "the long revision to begin")
        wait_until(lambda: bool(sleeping(url)), "pg_sleep to run on the server")
        [ran_for] = sleeping(url)
        sent = time.monotonic()
        os.kill(process.pid, signum)
        times = first_times(
            {
                "exit": exited(process),
                "statement": lambda: not sleeping(url),
                "lock": lock_free(url),
            },
            sent,
            timeout=STATEMENT_SECONDS + 15 if signum is signal.SIGKILL else 30,
        )
        code = process.wait()
        result: Round = {**times, "left": STATEMENT_SECONDS - ran_for, "code": code}
        if signum is not signal.SIGKILL:
            result["raised"] = process.result().get("error")
        result["stays"] = version(url)
        with environment(IBUTSU_TEST_NO_SLEEP="1"):
            result["next"] = next_boot(processes, config)
        return result


# 5. The holder's backend terminated


def holder_ended(bench: Bench) -> Round:
    with fresh_database(bench.server) as (url, _), spawned(bench.directory()) as processes:
        config = boot_config(url, "slow", IBUTSU_DB_LOCK_TIMEOUT=60)
        holder = processes.boot(config, "holder")
        holder.wait_for(f"Applied {SLOW[0]}", in_log=True)
        [pid] = advisory_lock_holders(url)
        ended = time.monotonic()
        query(url, "SELECT pg_terminate_backend(:pid)", pid=pid)
        times = first_times({"exit": exited(holder), "lock": lock_free(url)}, ended, 30)
        code = holder.wait()
        result: Round = {
            **times, "code": code, "raised": holder.result().get("error"), "stays": version(url)
        }
        result["next"] = next_boot(processes, config)
        return result


# 6. The server stopped and started again


def server_stopped(bench: Bench, server: ThrowawayServer) -> Round:
    with fresh_database(server.url) as (url, _), spawned(bench.directory()) as processes:
        try:
            config = boot_config(url, "slow", IBUTSU_DB_LOCK_TIMEOUT=60)
            holder = processes.boot(config, "holder")
            holder.wait_for(f"Applied {SLOW[0]}", in_log=True)
            stopping = time.monotonic()
            server.stop_server()
            stop_took = time.monotonic() - stopping
            times = first_times({"exit": exited(holder)}, stopping, 60)
            code = holder.wait()
            raised = holder.result().get("error")
            starting = time.monotonic()
            server.start()
            start_took = time.monotonic() - starting
            result: Round = {
                **times, "code": code, "raised": raised, "stop": stop_took, "start": start_took,
                "stays": version(url),
            }
            result["next"] = next_boot(processes, config)
            return result
        finally:
            if not postgres.server_answers(server.url):
                server.start()


def run_server_stopped(bench: Bench) -> list[Round]:
    with throwaway_server() as server:
        return bench.repeat("6. server stopped and started", lambda: server_stopped(bench, server))


# 7. The health endpoint over a frozen path


def timed_get(app: Flask) -> tuple[int, str, float]:
    """Status, state (and reason) and seconds of one GET /api/health/database."""
    started = time.monotonic()
    response = app.test_client().get("/api/health/database")
    took = time.monotonic() - started
    body = response.get_json() or {}
    state = str(body.get("state"))
    if "reason" in body:
        state += f": {body['reason']}"
    return response.status_code, state, took


def frozen_health(bench: Bench) -> Round:
    with fresh_database(bench.server) as (url, _):
        migrate_to(url, HEAD)
        parsed = sa.make_url(url)
        forwarder = TcpForwarder(free_port(), (parsed.host or "127.0.0.1", parsed.port or 5432))
        try:
            through = parsed.set(host="127.0.0.1", port=forwarder.port)
            app = create_app(app_config(through.render_as_string(hide_password=False), "check"))
            before = timed_get(app)
            forwarder.freeze()
            return {"before": before, "first": timed_get(app), "second": timed_get(app)}
        finally:
            forwarder.close()


# 8. A hot standby


def standby_refusal(bench: Bench, primary: ThrowawayServer, standby: ThrowawayServer) -> Round:
    with fresh_database(primary.url) as (_, name), spawned(bench.directory()) as processes:
        on_standby = postgres.database_url(standby.url, name)
        wait_until(lambda: postgres.server_answers(on_standby), "the standby to have the database")
        [process], took = boot_together(processes, boot_config(on_standby), 1, "boot")
        result = process.result()
        message = str(result.get("message", ""))
        return {
            "took": took,
            "raised": result.get("error") or result.get("state"),
            "says": message[message.find("accepts no writes"):].split(":")[0],
        }


def run_standby(bench: Bench) -> list[Round]:
    with throwaway_server() as primary, hot_standby(primary) as standby:
        return bench.repeat(
            "8. upgrade mode on a hot standby", lambda: standby_refusal(bench, primary, standby)
        )


# Reporting


def ok(rounds: list[Round]) -> list[Round]:
    return [result for result in rounds if "failed" not in result]


def spread(values: list[float | None]) -> str:
    """Median (min–max) of the values; a value that never came counts as missing."""
    present = [value for value in values if value is not None]
    missing = len(values) - len(present)
    if not present:
        return f"never ({missing} of {len(values)})" if values else "n/a"
    text = f"{statistics.median(present):.2f}"
    if len(present) > 1:
        text += f" ({min(present):.2f}–{max(present):.2f})"
    if missing:
        text += f", never in {missing}"
    return text


def each(values: list[Any]) -> str:
    """One value when every round gave it, else each round's, in order."""
    shown = [str(value) for value in values]
    if not shown:
        return "n/a"
    return shown[0] if len(set(shown)) == 1 else ", ".join(shown)


def failures(name: str, rounds: list[Round]) -> list[str]:
    return [
        f"{name}: round {number} failed: {result['failed']}"
        for number, result in enumerate(rounds, 1)
        if "failed" in result
    ]


def once(result: Round) -> str:
    counts = result["applied"]
    if not counts:
        return "none"
    names = ", ".join(f"{revision} x{count}" for revision, count in sorted(counts.items()))
    return names


def count_of(result: Round, what: str, total: int) -> str:
    return f"{result['outcomes'].get(what, 0)}/{total}"


def others(result: Round) -> str:
    rest = {key: value for key, value in result["outcomes"].items()
            if key not in ("at_head", "pooler named")}
    return ", ".join(f"{key} x{value}" for key, value in sorted(rest.items())) or "none"


def report(results: dict[str, list[Round]], rounds: int) -> None:
    lines: list[str] = []
    problems: list[str] = []
    for name, measured in results.items():
        problems += failures(name, measured)

    idle_off, idle_on = ok(results["idle off"]), ok(results["idle on"])
    print(f"### 1. idle_session_timeout = 1 s, 4 boots at once (slow scenario), {rounds} rounds\n")
    print("| database | at head | revisions applied | processes that migrated |"
          " waiters that reconnected | all at head, s |")
    print("|---|---|---|---|---|---|")
    for label, rows in (("no timeout", idle_off), ("idle_session_timeout = 1 s", idle_on)):
        print(f"| {label} | {each([count_of(r, 'at_head', 4) for r in rows])}"
              f" | {each([once(r) for r in rows])} | {each([r['migrated'] for r in rows])}"
              f" | {each([r['reconnected'] for r in rows])}"
              f" | {spread([r['wall'] for r in rows])} |")
    print()
    lines.append(
        f"idle_session_timeout = 1 s: at head {each([count_of(r, 'at_head', 4) for r in idle_on])},"
        f" revisions applied {each([once(r) for r in idle_on])}, waiters that reconnected"
        f" {each([r['reconnected'] for r in idle_on])}; all at head in"
        f" {spread([r['wall'] for r in idle_on])} s, against"
        f" {spread([r['wall'] for r in idle_off])} s without the timeout."
    )

    print(f"### 2. PgBouncer, 8 boots at once (slow scenario), {rounds} rounds"
          " (each round's value where they differ)\n")
    print("| pool_mode | at head | stopped, pooler named | other outcomes | revisions applied |"
          " processes that migrated | waiters handed the holder's session |"
          " holders that ended a pooled session | lock left on a pooled session |"
          " boots done, s | then a direct-URL boot to head, s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mode in ("transaction", "session"):
        rows = ok(results[f"pgbouncer {mode}"])
        print(f"| {mode} | {each([count_of(r, 'at_head', 8) for r in rows])}"
              f" | {each([count_of(r, 'pooler named', 8) for r in rows])}"
              f" | {each([others(r) for r in rows])} | {each([once(r) for r in rows])}"
              f" | {each([r['migrated'] for r in rows])} | {each([r['shared'] for r in rows])}"
              f" | {each([r['ended'] for r in rows])}"
              f" | {each(['yes' if r['lock_left'] else 'no' for r in rows])}"
              f" | {spread([r['wall'] for r in rows])} | {spread([r['direct'] for r in rows])} |")
        lines.append(
            f"PgBouncer {mode} mode: at head {each([count_of(r, 'at_head', 8) for r in rows])},"
            f" stopped naming the pooler {each([count_of(r, 'pooler named', 8) for r in rows])},"
            f" other outcomes {each([others(r) for r in rows])}; revisions applied"
            f" {each([once(r) for r in rows])}; lock left on a pooled session:"
            f" {each(['yes' if r['lock_left'] else 'no' for r in rows])}; a direct-URL boot"
            f" then brings the database to head in {spread([r['direct'] for r in rows])} s."
        )
    print()

    print(f"### 3 and 4. A signal while revision 2 runs its {STATEMENT_SECONDS} s statement"
          f" (sleeping scenario), {rounds} rounds\n")
    print("| signal | exit code, error | to the process's exit, s | to the statement gone"
          " from pg_stat_activity, s | to the lock free, s | statement's own time left, s |"
          " database stays at | next boot to head, s |")
    print("|---|---|---|---|---|---|---|---|")
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        rows = ok(results[signum.name])
        codes = each([f"{r['code']}, {r.get('raised', 'killed, no result')}" for r in rows])
        print(f"| {signum.name} | {codes} | {spread([r['exit'] for r in rows])}"
              f" | {spread([r['statement'] for r in rows])} | {spread([r['lock'] for r in rows])}"
              f" | {spread([r['left'] for r in rows])} | {each([r['stays'] for r in rows])}"
              f" | {spread([r['next'] for r in rows])} |")
        lines.append(
            f"{signum.name} during the statement: exit {codes} after"
            f" {spread([r['exit'] for r in rows])} s; statement gone after"
            f" {spread([r['statement'] for r in rows])} s (it had"
            f" {spread([r['left'] for r in rows])} s left), lock free after"
            f" {spread([r['lock'] for r in rows])} s; the database stays at"
            f" {each([r['stays'] for r in rows])}; the next boot reaches head in"
            f" {spread([r['next'] for r in rows])} s."
        )
    print()

    print(f"### 5 and 6. The holder's session ended during revision 2 (slow scenario),"
          f" {rounds} rounds\n")
    print("| fault | exit code, error | to the holder's exit, s | to the lock free, s |"
          " database stays at | server stop / start took, s | next boot to head, s |")
    print("|---|---|---|---|---|---|---|")
    terminated, stopped = ok(results["terminate"]), ok(results["server stop"])
    for label, rows in (("pg_terminate_backend", terminated), ("server stopped", stopped)):
        codes = each([f"{r['code']}, {r['raised']}" for r in rows])
        lock = spread([r["lock"] for r in rows]) if label != "server stopped" else "(server down)"
        stop = (f"{spread([r['stop'] for r in rows])} / {spread([r['start'] for r in rows])}"
                if label == "server stopped" else "")
        print(f"| {label} | {codes} | {spread([r['exit'] for r in rows])} | {lock}"
              f" | {each([r['stays'] for r in rows])} | {stop}"
              f" | {spread([r['next'] for r in rows])} |")
        lines.append(
            f"{label} during revision 2: the holder exits {codes} after"
            f" {spread([r['exit'] for r in rows])} s; the database stays at"
            f" {each([r['stays'] for r in rows])}; the next boot reaches head in"
            f" {spread([r['next'] for r in rows])} s"
            + (" after the restart." if label == "server stopped" else ".")
        )
    print()

    health = ok(results["health"])
    print(f"### 7. /api/health/database through a forwarder that freezes, {rounds} rounds\n")
    print("| request | status | body state | response time, s |")
    print("|---|---|---|---|")
    for key, label in (("before", "before the freeze"), ("first", "first after the freeze"),
                       ("second", "second after the freeze")):
        print(f"| {label} | {each([r[key][0] for r in health])}"
              f" | {each([r[key][1] for r in health])}"
              f" | {spread([r[key][2] for r in health])} |")
    print()
    lines.append(
        f"Frozen path to the database: /api/health/database answers"
        f" {each([r['first'][0] for r in health])} ({each([r['first'][1] for r in health])})"
        f" in {spread([r['first'][2] for r in health])} s, the next request"
        f" {each([r['second'][0] for r in health])} ({each([r['second'][1] for r in health])})"
        f" in {spread([r['second'][2] for r in health])} s"
        f" (bound {DATABASE_CHECK_TIMEOUT:g} s)."
    )

    standby = ok(results["standby"])
    print(f"### 8. Upgrade mode on a hot standby, {rounds} rounds\n")
    print("| outcome | boot to the refusal, s |")
    print("|---|---|")
    print(f"| {each([r['raised'] for r in standby])} | {spread([r['took'] for r in standby])} |")
    print()
    lines.append(
        f"Hot standby in upgrade mode: {each([r['raised'] for r in standby])} after"
        f" {spread([r['took'] for r in standby])} s, saying the database"
        f" {each([r['says'] for r in standby])}."
    )

    print("### What happens\n")
    for line in lines:
        print(f"- {line}")
    print(f"\nBounds the code states: health check {DATABASE_CHECK_TIMEOUT:g} s;"
          f" the lock holder's session ends within {SESSION_BOUND} s of its client.")
    if problems:
        print("\n### Failed rounds\n")
        for problem in problems:
            print(f"- {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=postgres.LOCAL_SERVER_URL, help="server URL")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement")
    options = parser.parse_args()
    if not postgres.server_answers(options.postgres):
        raise SystemExit(f"no PostgreSQL server answers at {options.postgres}")
    # A SIGTERM to this script unwinds it like Ctrl-C: children, servers and databases go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    bench = Bench(options.postgres, options.rounds)
    started = time.monotonic()
    results: dict[str, list[Round]] = {name: [] for name in (
        "idle off", "idle on", "pgbouncer transaction", "pgbouncer session", "SIGTERM",
        "SIGINT", "SIGKILL", "terminate", "server stop", "health", "standby",
    )}
    try:
        for number in range(1, options.rounds + 1):
            of = f"round {number}/{options.rounds}"
            for timeout_set, key in ((False, "idle off"), (True, "idle on")):
                results[key].append(attempt(
                    f"1. idle_session_timeout {'1 s' if timeout_set else 'unset'}, {of}",
                    partial(idle_sessions, bench, timeout_set),
                ))
            for mode in ("transaction", "session"):
                results[f"pgbouncer {mode}"].append(
                    attempt(f"2. PgBouncer {mode} mode, {of}", partial(pooled, bench, mode))
                )
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
                results[signum.name].append(
                    attempt(f"3/4. {signum.name}, {of}", partial(signalled, bench, signum))
                )
            results["terminate"].append(
                attempt(f"5. pg_terminate_backend, {of}", partial(holder_ended, bench))
            )
            results["health"].append(
                attempt(f"7. health over a frozen path, {of}", partial(frozen_health, bench))
            )
        for key, run in (("server stop", run_server_stopped), ("standby", run_standby)):
            try:
                results[key] = run(bench)
            except ROUND_FAILURES as exc:
                progress(f"{key}: FAILED: {exc}")
                results[key] = [{"failed": f"{type(exc).__name__}: {exc}"}]
    finally:
        shutil.rmtree(bench.root, ignore_errors=True)
    progress(f"all measured in {time.monotonic() - started:.0f} s")
    report(results, options.rounds)


if __name__ == "__main__":
    main()
