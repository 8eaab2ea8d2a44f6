"""Installing the package, as a user would, changes nothing for other projects.

A scratch virtual environment gets the package's base install from PyPI (no
extras) and pytest. In it, another project's tests run as before, its Flask
app keeps its own ``flask db``, a test asking for an ``ibutsu_db`` PostgreSQL
database is told what to install, and Ibutsu boots on PostgreSQL through the
one driver installed, psycopg2.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

TINY_APP = '''
import click
from flask import Flask

app = Flask(__name__)


@app.cli.group("db")
def db():
    """tiny's own database commands."""


@db.command("status")
def status():
    click.echo("tiny's db status")
'''

TINY_TESTS = '''
from tiny import app


def test_tiny():
    assert app.name == "tiny"
'''


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtual environment with the base install and pytest; its ``bin`` folder."""
    scratch = tmp_path_factory.mktemp("scratch")
    # A copy of the source: building writes into the tree, and other workers may build too.
    source = scratch / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info"))
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(source), "pytest"],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    yield venv / "bin"


def run(scratch: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": f"{scratch}:/usr/bin:/bin", "HOME": str(cwd), **env}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=environment)


def test_the_base_install_holds_one_postgresql_driver(scratch: Path, tmp_path: Path) -> None:
    """psycopg2, built from source: no -binary wheel, no second driver, no test tools."""
    listed = run(scratch, "pip", "list", "--format=freeze", cwd=tmp_path).stdout.lower()
    installed = {line.split("==")[0] for line in listed.splitlines()}
    assert "psycopg2" in installed
    assert not installed & {"psycopg2-binary", "psycopg", "psycopg-binary"}
    assert not installed & {"pytest-postgresql", "pytest-alembic", "hypothesis", "flake8"}


def test_another_projects_tests_and_flask_db(scratch: Path, tmp_path: Path) -> None:
    """A foreign project's pytest passes with the plugin loaded, and its ``flask db`` is its own."""
    (tmp_path / "tiny.py").write_text(TINY_APP)
    (tmp_path / "test_tiny.py").write_text(TINY_TESTS)
    tests = run(scratch, "pytest", "-p", "no:cacheprovider", "--trace-config", cwd=tmp_path)
    output = tests.stdout + tests.stderr
    assert tests.returncode == 0, output
    assert "1 passed" in output
    assert "ibutsu_server.testing.plugin" in output, "the plugin was not loaded"
    assert "Error while loading plugin" not in output
    status = run(scratch, "flask", "--app", "tiny", "db", "status", cwd=tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout == "tiny's db status\n"


def test_a_postgresql_fixture_says_what_to_install(scratch: Path, tmp_path: Path) -> None:
    """Asking for a PostgreSQL database without the test extra and without a server
    skips, or fails where PostgreSQL is required, naming the command that installs it."""
    (tmp_path / "test_needs_pg.py").write_text(
        "def test_needs_pg(ibutsu_db_postgres_server):\n    pass\n"
    )
    nowhere = "ibutsu_db_local_postgres=postgresql://postgres@127.0.0.1:1/postgres"
    skipped = run(scratch, "pytest", "-rs", "-p", "no:cacheprovider", "-o", nowhere, cwd=tmp_path)
    output = skipped.stdout + skipped.stderr
    assert skipped.returncode == 0, output
    assert "1 skipped" in output
    assert "pytest-postgresql is not installed: pip install 'ibutsu-server-db[test]'" in output
    required = run(
        scratch,
        "pytest",
        "-p",
        "no:cacheprovider",
        "-o",
        nowhere,
        cwd=tmp_path,
        IBUTSU_TEST_REQUIRE_POSTGRES="1",
    )
    assert required.returncode == 1, required.stdout + required.stderr
    assert "pip install 'ibutsu-server-db[test]'" in required.stdout


def test_ibutsu_boots_on_postgresql_with_psycopg2(
    scratch: Path, tmp_path: Path, postgres_url: str
) -> None:
    """With psycopg2 the only driver, a plain ``postgresql://`` URL works, whatever
    SQLAlchemy's own default driver is."""
    script = (
        "import sqlalchemy\n"
        "from ibutsu_server import create_app\n"
        "app = create_app({'IBUTSU_DB_MIGRATE': 'upgrade'})\n"
        "with app.app_context():\n"
        "    engine = app.extensions['sqlalchemy'].engine\n"
        "    print(sqlalchemy.__version__, engine.dialect.driver)\n"
    )
    booted = run(
        scratch, "python", "-c", script, cwd=tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url
    )
    assert booted.returncode == 0, booted.stderr
    version, driver = booted.stdout.split()
    assert driver == "psycopg2"
    assert "at_head" in booted.stderr
    assert version.startswith("2."), version
