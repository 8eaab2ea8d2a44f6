"""A PgBouncer of the test's own, in front of the test PostgreSQL server.

Debian's ``pgbouncer`` package provides the binary (``.ci/run`` installs it).
Tests that need one skip, saying why, where it is missing, and fail instead
under ``IBUTSU_TEST_REQUIRE_POSTGRES=1``, as CI sets.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from guard_processes import WAIT, free_port

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def require_pgbouncer() -> None:
    """Skip (or fail in CI) when no pgbouncer binary is installed."""
    if os.path.exists(BINARY):
        return
    reason = "pgbouncer is not installed (Debian: apt-get install pgbouncer)"
    if os.environ.get("IBUTSU_TEST_REQUIRE_POSTGRES"):
        pytest.fail(reason)
    pytest.skip(reason)


def _runs_as() -> str | None:
    """PgBouncer refuses to run as root: it then runs as the server's user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root, and no 'postgres' or 'nobody' user to run pgbouncer as")


@contextmanager
def pgbouncer(server_url: str, pool_mode: str, pool_size: int = 4) -> Iterator[str]:
    """Run PgBouncer in ``pool_mode`` before the server of ``server_url``.

    :return: a URL template: ``.format(database=name)`` gives a URL through the pooler.
    """
    require_pgbouncer()
    server = sa.make_url(server_url)
    user = server.username or "postgres"
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="ibutsu-pgbouncer-"))
    (folder / "users.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\n"
        "ignore_startup_parameters = extra_float_digits, options\n"
        f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
    )
    runs_as = _runs_as()
    command = [BINARY, "-q", str(folder / "pgbouncer.ini")]
    if runs_as is not None:
        account = pwd.getpwnam(runs_as)
        for path in [folder, *folder.iterdir()]:
            os.chown(path, account.pw_uid, account.pw_gid)
        command[1:1] = ["-u", runs_as]
    with open(folder / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    said = [(folder / name) for name in ("stderr.txt", "pgbouncer.log")]
                    raise RuntimeError(
                        "pgbouncer did not start: "
                        + " ".join(path.read_text() for path in said if path.exists())
                    ) from None
                time.sleep(0.05)
        yield f"postgresql://{user}@127.0.0.1:{port}/{{database}}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
