"""No Python file of the repository builds tables outside the migrations."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import REPO_ROOT

# Built in pieces so that this file does not match itself.
NAME = "_".join(("create", "all"))
CALL = re.compile(NAME + r"\s*\(")
SKIPPED_DIRS = {"build", "dist", "node_modules", "__pycache__"}


def _python_files(root: Path) -> list[Path]:
    """Every .py file under ``root``, skipping hidden folders, virtualenvs and build output."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".")
            and name not in SKIPPED_DIRS
            and not name.endswith(".egg-info")
            and not (Path(folder, name) / "pyvenv.cfg").exists()
        )
        found.extend(Path(folder, name) for name in sorted(files) if name.endswith(".py"))
    return found


def test_scan_covers_the_code() -> None:
    """The scan reaches the package, the migrations and the tests, and skips .venv."""
    files = {path.relative_to(REPO_ROOT).as_posix() for path in _python_files(REPO_ROOT)}
    assert "ibutsu_server/__init__.py" in files
    assert "ibutsu_server/db/migrations/env.py" in files
    assert "tests/conftest.py" in files
    assert "tests/test_no_create_all.py" in files
    assert not any(name.startswith(".") for name in files)


def test_pattern_matches_calls() -> None:
    """The pattern finds the usual spellings of the call."""
    assert CALL.search(f"db.{NAME}()")
    assert CALL.search(f"db.metadata.{NAME} (bind=engine)")
    assert CALL.search(f"Base.metadata.{NAME}(\n    engine)")
    assert not CALL.search(f"{NAME}_tables = 1")


def test_no_create_all_call() -> None:
    """Schemas come from Alembic revisions only, in the code and in the tests."""
    offenders = []
    for path in _python_files(REPO_ROOT):
        text = path.read_text(encoding="utf-8")
        for match in CALL.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            offenders.append(f"{path.relative_to(REPO_ROOT)}:{line}")
    assert offenders == []
