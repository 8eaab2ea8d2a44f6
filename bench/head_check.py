"""Cost of the boot check on a database at head: ours against Alembic's, side by side.

For synthetic chains of 10, 100 and 1,000 revisions (and the real chain), on
SQLite and PostgreSQL, with the database at head, the imports done and the
connection open, it times:

- Alembic: ``ScriptDirectory.from_config(...).get_heads()`` plus
  ``MigrationContext.configure(connection).get_current_heads()``, as a boot
  check built on Alembic does (each process loads the scripts once);
- ours at boot: the guard's ``inspect_database`` in a new process (the script
  heads read from the revision files' cache in ``versions/__pycache__``, every
  file's size and modification time checked);
- ours warm: the same check again in a running process (health checks, the
  ``wait`` mode's polling), the heads known since the first read.

Every check's answer is compared with Alembic's. Run from the repository root:

    python bench/head_check.py [--postgres URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_chain import write_chain  # noqa: E402

from ibutsu_server import MIGRATIONS_DIR  # noqa: E402
from flask_migration_guard import heads  # noqa: E402
from flask_migration_guard.scripts import Scripts  # noqa: E402
from flask_migration_guard.state import inspect_database  # noqa: E402
from ibutsu_server.testing import postgres  # noqa: E402
from ibutsu_server.testing.migrate import migrate_to_head  # noqa: E402

REPEAT = 30


def median_ms(
    action: Callable[[], object],
    repeat: int = REPEAT,
    setup: Callable[[], object] = lambda: None,
) -> float:
    times = []
    for _ in range(repeat):
        setup()  # not timed
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def alembic_check(directory: str, connection: sa.Connection) -> bool:
    config = Config()
    config.set_main_option("script_location", directory)
    script_heads = set(ScriptDirectory.from_config(config).get_heads())
    current = set(MigrationContext.configure(connection).get_current_heads())
    connection.rollback()
    return script_heads == current


def ours_at_boot(directory: str, connection: sa.Connection) -> bool:
    return inspect_database(connection, Scripts(directory)).at_head


def new_process(directory: str) -> None:
    """Forget what this process knows, as a new process would."""
    heads.forget(directory)


def ours_warm(scripts: Scripts, connection: sa.Connection) -> bool:
    return inspect_database(connection, scripts).at_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=postgres.LOCAL_SERVER_URL, help="server URL")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ibutsu-heads-"))
    chains = {"real (6)": MIGRATIONS_DIR}
    for size in (10, 100, 1000):
        chains[f"synthetic {size}"] = str(write_chain(workdir / f"chain{size}", size))

    def sqlite_url(label: str) -> str:
        return f"sqlite:///{workdir / (label.split()[-1] + '.db')}"

    targets: list[tuple[str, Callable[[str], str], Callable[[str], None]]] = [
        ("SQLite", sqlite_url, lambda label: None)
    ]
    if postgres.server_answers(options.postgres):
        names: dict[str, str] = {}

        def pg_url(label: str) -> str:
            names[label] = postgres.unique_name("ibutsu_bench")
            return postgres.create_database(options.postgres, names[label])

        def pg_drop(label: str) -> None:
            postgres.drop_database(options.postgres, names[label])

        targets.append(("PostgreSQL", pg_url, pg_drop))

    print("| dialect | chain | Alembic ms | ours at boot ms | ours warm ms | Alembic / ours warm |")
    print("|---|---|---|---|---|---|")
    warm: dict[tuple[str, str], float] = {}
    for dialect, make_url, drop in targets:
        for label, directory in chains.items():
            url = make_url(label)
            migrate_to_head(url, directory)
            engine = sa.create_engine(url)
            try:
                with engine.connect() as connection:
                    assert alembic_check(directory, connection)
                    new_process(directory)
                    assert ours_at_boot(directory, connection)
                    scripts = Scripts(directory)
                    assert ours_warm(scripts, connection)
                    repeat = 5 if "1000" in label else REPEAT
                    theirs = median_ms(
                        lambda folder=directory: alembic_check(folder, connection), repeat
                    )
                    boot = median_ms(
                        lambda folder=directory: ours_at_boot(folder, connection),
                        setup=lambda folder=directory: new_process(folder),
                    )
                    ours = median_ms(lambda warm=scripts: ours_warm(warm, connection), 200)
                    warm[(dialect, label)] = ours
                    print(
                        f"| {dialect} | {label} | {theirs:.2f} | {boot:.2f} | {ours:.3f} |"
                        f" {theirs / ours:.0f}x |"
                    )
            finally:
                engine.dispose()
                drop(label)
    print()
    for dialect, _, _ in targets:
        ratio = warm[(dialect, "synthetic 1000")] / warm[(dialect, "synthetic 10")]
        print(f"{dialect}: ours warm at 1,000 revisions / at 10 = {ratio:.2f}")


if __name__ == "__main__":
    main()
