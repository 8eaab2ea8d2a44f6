"""A built wheel holds what a regular (not editable) install needs to migrate and boot."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT

MIGRATIONS = Path("ibutsu_server", "db", "migrations")
BUILD_FILES = ("setup.cfg", "pyproject.toml", "README.md")
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources, so that the build leaves nothing in the tree."""
    pytest.importorskip("wheel", reason="building a wheel offline needs the 'wheel' package")
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    shutil.copytree(REPO_ROOT / "ibutsu_server", source / "ibutsu_server", ignore=NOT_SHIPPED)
    for name in BUILD_FILES:
        shutil.copy(REPO_ROOT / name, source / name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(root / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = (root / "dist").glob("*.whl")
    return found


def test_the_wheel_holds_every_file_of_the_script_folder(wheel: Path) -> None:
    expected = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / MIGRATIONS).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert len(expected) >= 4, "env.py, script.py.mako and at least one revision"
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    assert expected - shipped == set()
    assert "ibutsu_server/py.typed" in shipped, "type checkers need the PEP 561 marker"
    assert not any(name.startswith("tests/") for name in shipped)


def test_an_app_installed_from_the_wheel_migrates_and_boots(wheel: Path, tmp_path: Path) -> None:
    """Unpacked and put first on the path, the wheel's own copy (not the source tree) runs."""
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)
    program = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(installed)!r})
        import ibutsu_server
        from ibutsu_server import create_app
        app = create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite:///{tmp_path / "ibutsu.db"}",
                           "IBUTSU_DB_MIGRATE": "upgrade"}})
        reply = app.test_client().get("/api/health/database")
        print(json.dumps({{"file": ibutsu_server.__file__, "health": reply.get_json()}}))
        """
    )
    ran = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(installed))
    assert report["health"]["state"] == "at_head"
    assert report["health"]["pending"] == []
