"""Installing the package must not change other projects' pytest runs.

The ``ibutsu_db`` plugin is loaded by every pytest in the environment (entry
point ``pytest11``). Without the package's ``test`` extra, pytest-postgresql is
missing: another project's tests must still run, and a test that asks for a
PostgreSQL database is told what to install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest in ``project`` as if pytest-postgresql were not installed.

    A package of that name earlier on the path fails to import, as a missing one does,
    and pytest is told not to load the real one's plugin.
    """
    shadow = project / "shadow" / "pytest_postgresql"
    shadow.mkdir(parents=True, exist_ok=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named pytest_postgresql')\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:pytest_postgresql", "-p",
         "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(shadow.parent), **env},
    )


def test_another_projects_tests_run_without_the_test_extra(tmp_path: Path) -> None:
    """A foreign project's tests pass, with the plugin loaded and pytest-postgresql absent."""
    (tmp_path / "test_other.py").write_text("def test_other():\n    assert 1 + 1 == 2\n")
    result = _pytest(tmp_path, "test_other.py", "--trace-config")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "ibutsu_server.testing.plugin" in result.stdout, "the plugin was not loaded"
    assert "Error while loading plugin" not in result.stdout + result.stderr


def test_a_postgresql_test_says_what_to_install(tmp_path: Path) -> None:
    """Asking for a PostgreSQL database with no server and no pytest-postgresql skips (or,
    where PostgreSQL is required, fails) with the command that installs the extra."""
    (tmp_path / "test_needs_pg.py").write_text(
        "def test_needs_pg(ibutsu_db_postgres_server):\n    pass\n"
    )
    result = _pytest(
        tmp_path,
        "test_needs_pg.py",
        "-rs",
        "-o",
        "ibutsu_db_local_postgres=postgresql://postgres@127.0.0.1:1/postgres",
        HOME=str(tmp_path),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 skipped" in output, output
    assert "pytest-postgresql is not installed: pip install 'ibutsu-server-db[test]'" in output
    required = _pytest(
        tmp_path,
        "test_needs_pg.py",
        "-o",
        "ibutsu_db_local_postgres=postgresql://postgres@127.0.0.1:1/postgres",
        HOME=str(tmp_path),
        IBUTSU_TEST_REQUIRE_POSTGRES="1",
    )
    assert required.returncode == 1, required.stdout + required.stderr
    assert "pip install 'ibutsu-server-db[test]'" in required.stdout
