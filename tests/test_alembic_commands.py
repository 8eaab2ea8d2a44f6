"""The commands of the migrations README, run as ``python -m alembic`` subprocesses.

The database is chosen by ``SQLALCHEMY_DATABASE_URI`` in each subprocess's
environment; any database setting inherited from the test process is removed
first.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from conftest import REPO_ROOT, Migrate

MakeEngine = Callable[[str], sa.Engine]
VERSIONS = REPO_ROOT / "ibutsu_server" / "db" / "migrations" / "versions"
HISTORY = [
    "e5736dbcc0b0 -> d18de2b3253f (head), ",
    "8cf9148b9ad9 -> e5736dbcc0b0, ",
    "53994db980f1 -> 8cf9148b9ad9, ",
    "fc3df1d9ee4e -> 53994db980f1, ",
    "cacecc4f1237 -> fc3df1d9ee4e, ",
    "<base> -> cacecc4f1237, ",
]


def _environment(url: str) -> dict[str, str]:
    """The test process's environment without database settings, plus ``url``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name != "SQLALCHEMY_DATABASE_URI"
        and not name.startswith(("POSTGRES", "IBUTSU_DB_"))
    }
    environment["SQLALCHEMY_DATABASE_URI"] = url
    environment["PYTHONWARNINGS"] = "error"
    return environment


def _alembic(url: str, *args: str, fail: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``python -m alembic ARGS`` from the repository root.

    The command must succeed, or fail (any non-zero exit code) when ``fail`` is set.
    """
    done = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO_ROOT,
        env=_environment(url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode != 0) == fail, (
        f"alembic {' '.join(args)} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done


def _current(url: str) -> str:
    return _alembic(url, "current").stdout.strip()


def _version(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def test_upgrade_history_current_downgrade(empty_url: str, make_engine: MakeEngine) -> None:
    """upgrade head, history, current, downgrade -1, downgrade <rev>, upgrade head."""
    engine = make_engine(empty_url)
    upgraded = _alembic(empty_url, "upgrade", "head")
    assert "Running upgrade e5736dbcc0b0 -> d18de2b3253f" in upgraded.stderr
    assert _version(engine) == "d18de2b3253f"

    history = _alembic(empty_url, "history").stdout.splitlines()
    assert len(history) == len(HISTORY)
    for line, start in zip(history, HISTORY):
        assert line.startswith(start), history

    assert _current(empty_url) == "d18de2b3253f (head)"

    _alembic(empty_url, "downgrade", "-1")
    assert _current(empty_url) == "e5736dbcc0b0"

    _alembic(empty_url, "downgrade", "53994db980f1")
    assert _version(engine) == "53994db980f1"

    again = _alembic(empty_url, "upgrade", "head")
    assert "Running upgrade 53994db980f1 -> 8cf9148b9ad9" in again.stderr
    assert "Running upgrade  -> cacecc4f1237" not in again.stderr
    assert _version(engine) == "d18de2b3253f"


def test_check(empty_url: str, migrate: Migrate) -> None:
    """``alembic check`` passes at head and fails below it."""
    migrate(empty_url, "upgrade", "head")
    checked = _alembic(empty_url, "check")
    assert "No new upgrade operations detected" in checked.stdout

    migrate(empty_url, "downgrade", "-1")
    behind = _alembic(empty_url, "check", fail=True)
    assert "FAILED: Target database is not up to date" in behind.stdout


def test_offline_sql(empty_url: str, make_engine: MakeEngine) -> None:
    """``upgrade <rev> --sql`` prints SQL; ``upgrade head --sql`` explains what to run."""
    written = _alembic(empty_url, "upgrade", "8cf9148b9ad9", "--sql")
    assert "CREATE TABLE runs" in written.stdout
    assert "UPDATE alembic_version SET version_num='8cf9148b9ad9'" in written.stdout

    refused = _alembic(empty_url, "upgrade", "head", "--sql", fail=True)
    failure = refused.stdout.split("FAILED: ", 1)[1]
    assert "e5736dbcc0b0" in failure
    assert "alembic upgrade 8cf9148b9ad9 --sql" in failure
    assert sa.inspect(make_engine(empty_url)).get_table_names() == []


def _scratch_scripts(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the script directory and an alembic.ini that points at it."""
    scripts = tmp_path / "migrations"
    shutil.copytree(VERSIONS.parent, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    ini = (REPO_ROOT / "alembic.ini").read_text()
    ini, located = re.subn(r"(?m)^script_location = .*$", f"script_location = {scripts}", ini)
    ini, prepended = re.subn(
        r"(?m)^prepend_sys_path = .*$", f"prepend_sys_path = {REPO_ROOT}", ini
    )
    assert (located, prepended) == (1, 1)
    config = tmp_path / "alembic.ini"
    config.write_text(ini)
    return scripts, config


def _body_is_pass(tree: ast.Module, name: str) -> bool:
    function = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name
    )
    return all(isinstance(statement, ast.Pass) for statement in function.body)


def test_autogenerate_finds_no_change(
    empty_url: str, migrate: Migrate, tmp_path: Path
) -> None:
    """``revision --autogenerate`` at head writes a revision whose bodies are just ``pass``."""
    real_versions = sorted(path.name for path in VERSIONS.glob("*.py"))
    scripts, config = _scratch_scripts(tmp_path)
    before = {path.name for path in (scripts / "versions").glob("*.py")}
    migrate(empty_url, "upgrade", "head")

    _alembic(empty_url, "-c", str(config), "revision", "--autogenerate", "-m", "no change")
    created = [p for p in (scripts / "versions").glob("*.py") if p.name not in before]
    assert len(created) == 1
    assert created[0].name.endswith("_no_change.py")
    tree = ast.parse(created[0].read_text())
    assert _body_is_pass(tree, "upgrade")
    assert _body_is_pass(tree, "downgrade")

    spec = importlib.util.spec_from_file_location("autogenerated_no_change", created[0])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.down_revision == "d18de2b3253f"
    assert created[0].name.startswith(module.revision)
    module.upgrade()
    module.downgrade()

    heads = _alembic(empty_url, "-c", str(config), "heads").stdout.strip()
    assert heads == f"{module.revision} (head)"
    assert sorted(path.name for path in VERSIONS.glob("*.py")) == real_versions
