"""Support for the guard's concurrency and failure tests: processes, servers, sockets.

- :class:`Process` runs a Python snippet in a child process whose output goes
  to files, with bounded waits on its exit and on lines of its output.
- :func:`boot_process` boots ``create_app`` in a child, optionally holding it
  at a start line so that several children start migrating together.
- :func:`lock_holder` takes the migration lock in a child and keeps it.
- :class:`TcpForwarder` forwards a local port to a PostgreSQL server.
- :class:`ThrowawayServer` is a PostgreSQL server of the test's own, to restart.

Everything here cleans up after itself: children are killed and reaped,
sockets closed, servers stopped.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ibutsu_server import create_app
from ibutsu_server.db import db
from flask_migration_guard import DatabaseState
from flask_migration_guard.appstate import app_guard
from flask_migration_guard.lock import advisory_key
from ibutsu_server.guard_names import GUARD_NAMES

SCRIPTS = Path(__file__).resolve().parent / "scripts"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

#: application_name of the sessions tests take the migration lock with.
HOLDER_NAME = "guard-test-holder"

#: Bound on any single wait in these tests, so that a bug fails a test instead of hanging it.
WAIT = 60.0

# Boots an app from the JSON config in argv[1]; waits for the file in argv[2] first, if given.
# Prints READY once imported, then one JSON line: the state reached, or the error raised.
_BOOT = """
import json, logging, os, sys, time
logging.basicConfig(
    level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
)
from ibutsu_server import create_app
from ibutsu_server.db import db
from flask_migration_guard.appstate import app_guard

config = json.loads(sys.argv[1])
print("READY", flush=True)
if len(sys.argv) > 2:
    deadline = time.monotonic() + 60
    while not os.path.exists(sys.argv[2]):
        if time.monotonic() > deadline:
            sys.exit("never told to start")
        time.sleep(0.01)
try:
    app = create_app(config)
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
    sys.exit(1)
state = app_guard(app).last_state
with app.app_context():
    db.engine.dispose()
print(json.dumps({"state": state.name.value, "current": list(state.current)}), flush=True)
"""

# Takes the migration lock of the database at argv[1] and keeps it for argv[2] seconds.
_HOLD_MIGRATION_LOCK = """
import sys, time
import sqlalchemy as sa
from flask_migration_guard.lock import migration_lock
from ibutsu_server.guard_names import GUARD_NAMES

engine = sa.create_engine(sys.argv[1], poolclass=sa.NullPool)
with migration_lock(engine, 10, GUARD_NAMES):
    print("LOCKED", flush=True)
    time.sleep(float(sys.argv[2]))
engine.dispose()
print("RELEASED", flush=True)
"""

# Holds a plain file lock on argv[1] for argv[2] seconds.
_HOLD_FILE_LOCK = """
import sys, time
import filelock

lock = filelock.FileLock(sys.argv[1])
lock.acquire(timeout=10)
print("LOCKED", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
print("RELEASED", flush=True)
"""


class Process:
    """A Python snippet running in a child process, its output kept in files.

    :param snippet: the code, run with ``python -c``.
    :param args: its ``sys.argv[1:]``.
    :param directory: where the output files go.
    :param name: names the output files.
    """

    def __init__(self, snippet: str, args: list[str], directory: Path, name: str) -> None:
        self.name = name
        self.stdout_path = directory / f"{name}.out"
        self.stderr_path = directory / f"{name}.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", snippet, *args], stdout=out, stderr=err, cwd=directory
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def log(self) -> str:
        """Everything the child wrote to standard error: its log lines."""
        return self.stderr_path.read_text(errors="replace")

    def result(self) -> dict[str, Any]:
        """The JSON line a boot printed last."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("{")]
        assert lines, f"{self.name} printed no result\n{self.describe()}"
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def describe(self) -> str:
        """The child's output, for assertion messages."""
        return f"--- {self.name} stdout\n{self.stdout}--- {self.name} log\n{self.log}"

    def wait(self, timeout: float = WAIT) -> int:
        """Wait for the exit code; kill the child and fail the test if it takes longer."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"{self.name} still ran after {timeout:g} s\n{self.describe()}")

    def wait_for(self, text: str, *, in_log: bool = False, timeout: float = WAIT) -> None:
        """Wait until ``text`` appears in the child's output; fail if it exits or times out."""
        deadline = time.monotonic() + timeout
        while text not in (self.log if in_log else self.stdout):
            if self.popen.poll() is not None and text not in (self.log if in_log else self.stdout):
                pytest.fail(f"{self.name} exited before {text!r}\n{self.describe()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} never wrote {text!r} in {timeout:g} s\n{self.describe()}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the child and reap it."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(WAIT)

    def stop(self) -> None:
        """Kill the child if it still runs, and reap it."""
        if self.popen.poll() is None:
            self.kill()


class Processes:
    """Starts children for one test and reaps every one of them at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Process] = []

    def start(self, snippet: str, args: list[str], name: str) -> Process:
        process = Process(snippet, args, self.directory, name)
        self.started.append(process)
        return process

    def boot(self, config: dict[str, Any], name: str, start_file: Path | None = None) -> Process:
        """Boot ``create_app(config)`` in a child, once ``start_file`` exists if one is given."""
        args = [json.dumps(config)] + ([str(start_file)] if start_file else [])
        return self.start(_BOOT, args, name)

    def hold_migration_lock(self, url: str, seconds: float = 120, name: str = "holder") -> Process:
        """Take the migration lock through the guard in a child; return once it holds it."""
        holder = self.start(_HOLD_MIGRATION_LOCK, [url, str(seconds)], name)
        holder.wait_for("LOCKED")
        return holder

    def hold_file_lock(self, path: str, seconds: float = 120, name: str = "holder") -> Process:
        """Hold a plain ``filelock.FileLock`` on ``path`` in a child; return once it holds it."""
        holder = self.start(_HOLD_FILE_LOCK, [path, str(seconds)], name)
        holder.wait_for("LOCKED")
        return holder

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@contextmanager
def spawned(directory: Path) -> Iterator[Processes]:
    """Start children with the :class:`Processes` given; all are reaped at the end."""
    started = Processes(directory)
    try:
        yield started
    finally:
        started.stop_all()


def boot(config: dict[str, Any]) -> DatabaseState:
    """Boot an app in this process and return the state its guard reached."""
    app = create_app({**config, "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": sa.NullPool}})
    with app.app_context():
        db.engine.dispose()
    state = app_guard(app).last_state
    assert state is not None
    return state


@contextmanager
def advisory_lock_session(url: str) -> Iterator[sa.Connection]:
    """A session of the test's own holding the migration lock; it ends at exit."""
    engine = sa.create_engine(
        url,
        poolclass=sa.NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"application_name": HOLDER_NAME},
    )
    try:
        with engine.connect() as connection:
            locked = connection.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"),
                {"key": advisory_key(GUARD_NAMES.lock)},
            ).scalar()
            assert locked, "the migration lock was already taken"
            yield connection
    finally:
        engine.dispose()


def boot_config(url: str, scripts: str | None = None, **settings: Any) -> dict[str, Any]:
    """An app config migrating ``url`` at startup, with the scenario ``scripts`` if given."""
    config: dict[str, Any] = {"SQLALCHEMY_DATABASE_URI": url, "IBUTSU_DB_MIGRATE": "upgrade"}
    if scripts:
        config["IBUTSU_DB_MIGRATIONS_DIR"] = str(SCRIPTS / scripts)
    config.update(settings)
    return config


def table_names(url: str) -> set[str]:
    """The tables of the database at ``url``."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of one read-only statement on the database at ``url``."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def advisory_lock_holders(url: str) -> list[int]:
    """Backend pids holding the migration lock of the PostgreSQL database at ``url``."""
    rows = query(
        url,
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = ((:key >> 32) & 4294967295)::oid"
        " AND objid = (:key & 4294967295)::oid AND database = ("
        "  SELECT oid FROM pg_database WHERE datname = current_database())",
        key=advisory_key(GUARD_NAMES.lock),
    )
    return [row[0] for row in rows]


def advisory_lock_held(url: str) -> bool:
    """Whether some session holds the migration lock of the PostgreSQL database at ``url``."""
    return bool(advisory_lock_holders(url))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout:g} s")
        time.sleep(0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class TcpForwarder:
    """Forwards connections on ``127.0.0.1:port`` to ``target``, on one thread.

    :param port: the port to listen on.
    :param target: host and port to forward to.
    """

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self.accepted = 0
        self._stopping = threading.Event()
        self._frozen = threading.Event()
        self._cutting = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._peers: dict[socket.socket, socket.socket] = {}
        self._thread = threading.Thread(target=self._serve, name="tcp-forwarder", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        self.accepted += 1
        for one, other in ((client, upstream), (upstream, client)):
            one.setblocking(True)
            self._peers[one] = other
            self._selector.register(one, selectors.EVENT_READ)

    def _close_pair(self, one: socket.socket) -> None:
        other = self._peers.pop(one)
        self._peers.pop(other, None)
        for sock in (one, other):
            self._selector.unregister(sock)
            sock.close()

    def freeze(self) -> None:
        """Stop moving bytes, with every connection left open: a silent partition."""
        self._frozen.set()

    def cut(self) -> None:
        """Close every forwarded connection at once, both ways, as a failing proxy does."""
        self._cutting.set()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            if self._frozen.is_set():
                self._stopping.wait(0.1)
                continue
            if self._cutting.is_set():
                self._cutting.clear()
                for sock in list(self._peers):
                    if sock in self._peers:
                        self._close_pair(sock)
            for key, _ in self._selector.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept()
                    continue
                if sock not in self._peers:
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data:
                    self._peers[sock].sendall(data)
                else:
                    self._close_pair(sock)

    def close(self) -> None:
        """Stop forwarding and close every socket."""
        self._stopping.set()
        self._thread.join(WAIT)
        for sock in list(self._peers):
            if sock in self._peers:
                self._close_pair(sock)
        self._selector.unregister(self._listener)
        self._listener.close()
        self._selector.close()


@contextmanager
def forwarded(url: str) -> Iterator[tuple[TcpForwarder, str]]:
    """A :class:`TcpForwarder` before the server of ``url``, and ``url`` through it."""
    parsed = sa.make_url(url)
    forwarder = TcpForwarder(free_port(), (parsed.host or "127.0.0.1", parsed.port or 5432))
    try:
        yield forwarder, parsed.set(host="127.0.0.1", port=forwarder.port).render_as_string(False)
    finally:
        forwarder.close()


class ThrowawayServer:
    """A PostgreSQL server in a temporary folder, run as the ``postgres`` OS user.

    ``initdb`` refuses root, so when the tests run as root the server's commands
    go through ``runuser -u postgres``.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ibutsu-throwaway-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(prefix + list(command), check=True, capture_output=True, timeout=WAIT)

    def _options(self) -> str:
        return (
            f"-F -p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.root}"
        )

    def init_and_start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )
        self.start()
        self.running = True

    def init_standby_of(self, primary: ThrowawayServer) -> None:
        """Copy ``primary`` with pg_basebackup and start the copy as its hot standby."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(PG_BIN / "pg_basebackup"), "-D", str(self.data), "-R", "-X", "stream",
            "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
        )
        self.start()
        self.running = True

    def _pg_ctl(self, action: str, *extra: str) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"), action, "-D", str(self.data), "-w", "-t", "30",
            "-l", str(self.root / "server.log"), "-o", self._options(), *extra,
        )

    def start(self) -> None:
        self._pg_ctl("start")

    def stop_server(self) -> None:
        """Stop fast, keeping the data for :meth:`start`."""
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        """Restart fast: every session is ended."""
        self._pg_ctl("restart", "-m", "fast")

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        try:
            if self.running and (self.data / "postmaster.pid").exists():
                self._run(
                    str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-w", "-m", "immediate"
                )
        finally:
            self.running = False
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def throwaway_server() -> Iterator[ThrowawayServer]:
    """A running :class:`ThrowawayServer`; skips the test when none can be started."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no {PG_BIN / 'initdb'}: cannot start a throwaway PostgreSQL server")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb cannot run as 'postgres'")
    server = ThrowawayServer()
    try:
        try:
            server.init_and_start()
        except (subprocess.CalledProcessError, LookupError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            pytest.skip(
                f"cannot start a throwaway PostgreSQL server: {exc}"
                f" {detail.decode(errors='replace')[-500:]}"
            )
        yield server
    finally:
        server.stop()


@contextmanager
def hot_standby(primary: ThrowawayServer) -> Iterator[ThrowawayServer]:
    """A running hot standby of ``primary``, replicating by streaming."""
    server = ThrowawayServer()
    try:
        server.init_standby_of(primary)
        yield server
    finally:
        server.stop()
