"""The guard's ``flask`` commands (``flask db`` by default). Options and output only; the
work is in the library.

:meth:`MigrationGuard.init_app` adds the group under the name its :class:`Names` give
(``db`` by default), or none.

Exit codes: 0 done or at head; 3 an upgrade would fix the database (behind,
empty, proven legacy); 4 the database is in a state nothing automatic may
touch; 2 a setting or the connection is wrong; 1 anything else failed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from datetime import timezone
from types import ModuleType
from typing import Any, TypeVar

import click
from flask import Flask
from flask.cli import ScriptInfo

from flask_migration_guard.actions import Runner
from flask_migration_guard.appstate import app_guard
from flask_migration_guard.refusals import edited_message, error_for
from flask_migration_guard.scripts import Scripts, alembic_config
from flask_migration_guard.settings import DIRECTORY, check_directory
from flask_migration_guard.state import DatabaseState

F = TypeVar("F", bound=Callable[..., Any])

EXIT_UPGRADABLE = 3
EXIT_REFUSED = 4


def _alembic() -> ModuleType:
    """``alembic.command``, imported when a command needs it, not when the app boots."""
    from alembic import command

    return command


class GuardGroup(click.Group):
    """The guard's command group of one app; its commands find the guard under
    ``extension_key``.
    """

    def __init__(self, name: str, extension_key: str) -> None:
        super().__init__(
            name,
            help="Inspect and migrate the database, under the migration lock.",
            params=_script_params(),
            callback=_remember_group_options,
        )
        self.extension_key = extension_key
        for command_ in COMMANDS:
            self.add_command(command_)


def _guard_group(ctx: click.Context | None) -> GuardGroup | None:
    """The guard group ``ctx`` runs a command of, if any."""
    while ctx is not None:
        if isinstance(ctx.command, GuardGroup):
            return ctx.command
        ctx = ctx.parent
    return None


def runs_guard_command(ctx: click.Context | None) -> bool:
    """Whether ``ctx`` runs one of the guard's commands."""
    return _guard_group(ctx) is not None


def looks_up_command(ctx: click.Context | None) -> bool:
    """Whether the ``flask`` command is loading the app to find the command to run
    (which may be the guard's), rather than running one."""
    return (
        ctx is not None
        and isinstance(ctx.command, click.Group)
        and ctx.invoked_subcommand is None
        and ctx.find_object(ScriptInfo) is not None
    )


def _script_params() -> list[click.Parameter]:
    """``-d/--directory`` and ``-x/--x-arg``, as Flask-Migrate's group and commands take them."""
    return [
        click.Option(
            ["-d", "--directory"], default=None, help="The migration script directory to use."
        ),
        click.Option(
            ["-x", "--x-arg"], multiple=True, help="An argument for env.py (get_x_argument)."
        ),
    ]


def _remember_group_options(directory: str | None, x_arg: tuple[str, ...]) -> None:
    """Keep the group's -d and -x for its command, which may override them."""
    meta = click.get_current_context().meta
    meta["migration_guard.directory"] = directory
    meta["migration_guard.x_arg"] = x_arg


def _with_runner(*, database: bool = True) -> Callable[[F], F]:
    """Load the app inside the command and hand it the app's runner. Guard errors are
    click exceptions with the guard's exit code; Alembic's own errors exit 1.

    The command takes ``-d``, for another script directory, and ``-x``, for env.py.

    :param database: the command needs the database: wait for it first, as a boot does
        (an unreachable one exits 2, not 1). Commands that read the scripts alone never
        connect.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(
            *args: Any, directory: str | None, x_arg: tuple[str, ...], **kwargs: Any
        ) -> Any:
            from alembic.util import CommandError

            try:
                ctx = click.get_current_context()
                app: Flask = ctx.ensure_object(ScriptInfo).load_app()
                group = _guard_group(ctx)
                assert group is not None  # the commands live in guard groups only
                with app.app_context():
                    guard = app_guard(app, group.extension_key)
                    guard.startup_check_handled()
                    runner = guard.runner
                    directory = directory or ctx.meta.get("migration_guard.directory")
                    if directory:
                        runner = dataclasses.replace(runner, scripts=Scripts(directory))
                    key = "--directory" if directory else runner.names.key(DIRECTORY)
                    check_directory(runner.scripts.directory, key)
                    x_arguments = x_arg or ctx.meta.get("migration_guard.x_arg") or ()
                    runner = dataclasses.replace(runner, x_arguments=tuple(x_arguments))
                    if database:
                        runner.wait_for_database()
                    return func(runner, *args, **kwargs)
            except CommandError as exc:
                raise click.ClickException(str(exc)) from exc

        wrapper.__click_params__ = [  # type: ignore[attr-defined]
            *getattr(func, "__click_params__", []),
            *_script_params(),
        ]
        return wrapper  # type: ignore[return-value]

    return decorate


def _show(state: DatabaseState) -> None:
    click.echo(f"state:   {state.name.value}")
    click.echo(f"current: {', '.join(state.current) or 'none'}")
    click.echo(f"head:    {', '.join(state.head) or 'none'}")
    click.echo(f"pending: {', '.join(state.pending) or 'none'}")
    if state.detail:
        click.echo(f"detail:  {state.detail}")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the state as one JSON object.")
@_with_runner()
def status_command(runner: Runner, as_json: bool) -> None:
    """Show the database's state; exit 0 at head, 3 if an upgrade fixes it, 4 if not.

    Away from head, the reason and the command that fixes it go to standard error.
    With --json: state, current, head and pending as the health endpoint gives them,
    heads (the same list under Alembic's name), edited (applied revisions whose files
    changed since), detail, and lock_holder (who holds the migration lock, or null).
    """
    state = runner.inspect()
    edited = runner.edited_revisions()
    if as_json:
        from flask_migration_guard.lock import lock_holder

        document = {
            **state.as_dict(),
            "heads": list(state.head),
            "edited": list(edited),
            "detail": state.detail,
            "lock_holder": lock_holder(runner.engine, runner.names),
        }
        click.echo(json.dumps(document))
    else:
        _show(state)
        if edited:
            click.echo(f"edited:  {', '.join(edited)}")
    if edited:
        click.echo(edited_message(edited, runner.names), err=True)
    error = error_for(state, runner.names)
    if error is not None:
        click.echo(error.message, err=True)  # what was found, what was expected, the fix
        raise SystemExit(EXIT_UPGRADABLE if state.upgradable else EXIT_REFUSED)


_SQL = click.option("--sql", is_flag=True, help="Print the SQL instead of running it (offline).")
_TAG = click.option("--tag", default=None, help="An arbitrary tag for env.py.")


def _offline(runner: Runner, action: str, revision: str, **options: Any) -> None:
    """Run ``action`` in Alembic's offline mode: env.py writes the SQL, nothing connects."""
    getattr(_alembic(), action)(_scripts_config(runner), revision, sql=True, **options)


@click.command("upgrade")
@_SQL
@_TAG
@click.argument("revision", default="head")
@_with_runner(database=False)
def upgrade_command(runner: Runner, sql: bool, tag: str | None, revision: str) -> None:
    """Upgrade to REVISION (default: head), stamping a proven legacy baseline first."""
    if sql:
        return _offline(runner, "upgrade", revision, tag=tag)
    runner.wait_for_database()
    _show(runner.upgrade(revision, tag=tag, bar=sys.stderr if sys.stderr.isatty() else None))


@click.command("downgrade", context_settings={"ignore_unknown_options": True})
@_SQL
@_TAG
@click.argument("revision", default="-1")
@_with_runner(database=False)
def downgrade_command(runner: Runner, sql: bool, tag: str | None, revision: str) -> None:
    """Downgrade to REVISION (default: -1, one step; an id or 'base' too)."""
    if sql:
        return _offline(runner, "downgrade", revision, tag=tag)
    runner.wait_for_database()
    _show(runner.downgrade(revision, tag=tag))


@click.command("stamp")
@_SQL
@_TAG
@click.option("--purge", is_flag=True, help="Empty the version table before stamping.")
@click.argument("revision", default="head")
@_with_runner(database=False)
def stamp_command(
    runner: Runner, sql: bool, tag: str | None, purge: bool, revision: str
) -> None:
    """Record REVISION (default: head) in the version table without running any migration."""
    if sql:
        return _offline(runner, "stamp", revision, tag=tag, purge=purge)
    runner.wait_for_database()
    _show(runner.stamp(revision, tag=tag, purge=purge))


def _revision_options(func: F) -> F:
    for option in reversed(
        [
            click.option("-m", "--message", default=None, help="The revision's message."),
            _SQL,
            click.option("--head", default="head", help="The head to base the revision on."),
            click.option("--splice", is_flag=True, help="Allow a parent that is not a head."),
            click.option("--branch-label", default=None, help="A branch label to apply."),
            click.option("--version-path", default=None, help="Where to write the file."),
            click.option("--rev-id", default=None, help="The revision id (default: a new one)."),
        ]
    ):
        func = option(func)
    return func


def _new_revision(runner: Runner, autogenerate: bool, **options: Any) -> None:
    """Write a revision; autogenerated ones compare the models with the database."""
    if not autogenerate or options.get("sql"):
        _alembic().revision(_scripts_config(runner), autogenerate=autogenerate, **options)
        return
    runner.wait_for_database()
    runner.run(_alembic().revision, read_only=True, autogenerate=True, **options)


@click.command("revision")
@_revision_options
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
@_with_runner(database=False)
def revision_command(runner: Runner, autogenerate: bool, **options: Any) -> None:
    """Write a new revision file."""
    _new_revision(runner, autogenerate, **options)


@click.command("migrate")
@_revision_options
@_with_runner(database=False)
def migrate_command(runner: Runner, **options: Any) -> None:
    """Write a new revision from what the models have and the database lacks (autogenerate)."""
    _new_revision(runner, True, **options)


@click.command("edit")
@click.argument("revision", default="head")
@_with_runner(database=False)
def edit_command(runner: Runner, revision: str) -> None:
    """Open REVISION's file (default: head) in $EDITOR."""
    _alembic().edit(_scripts_config(runner), revision)


@click.command("current")
@click.option("-v", "--verbose", is_flag=True, help="Show each revision's details.")
@_with_runner()
def current_command(runner: Runner, verbose: bool) -> None:
    """Show the revisions the database is at."""
    runner.run(_alembic().current, read_only=True, verbose=verbose)


@click.command("history")
@click.option("-r", "--rev-range", default=None, help="A range such as base:head or -3:.")
@click.option("-v", "--verbose", is_flag=True, help="Show each revision's details.")
@click.option(
    "-i", "--indicate-current", is_flag=True, help="Mark the database's current revision."
)
@click.option(
    "--applied",
    is_flag=True,
    help="List what the schema history records as applied and reverted, newest first.",
)
@_with_runner(database=False)
def history_command(
    runner: Runner, rev_range: str | None, verbose: bool, indicate_current: bool, applied: bool
) -> None:
    """List the revisions, newest first; with -i, mark the database's current one; with
    --applied, list the schema history instead: when, how long, by whom."""
    if applied:
        runner.wait_for_database()
        _show_applied(runner.applied_history())
        return
    if not indicate_current:  # the scripts alone
        _alembic().history(_scripts_config(runner), rev_range, verbose)
        return
    runner.wait_for_database()
    runner.run(
        _alembic().history,
        read_only=True,
        rev_range=rev_range,
        verbose=verbose,
        indicate_current=True,
    )


def _show_applied(rows: list[dict[str, Any]]) -> None:
    """The schema history, newest first, one line per revision applied or reverted."""
    if not rows:
        click.echo(
            "No schema history: no revision has been applied to this database through the"
            " guard.",
            err=True,
        )
        return
    for row in reversed(rows):
        applied_at = row["applied_at"]  # written in UTC; SQLite gives it back naive
        if applied_at.tzinfo is not None:
            applied_at = applied_at.astimezone(timezone.utc)
        when = applied_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        version = f" {row['package_version']}" if row["package_version"] else ""
        compatible = " backward compatible" if row["backward_compatible"] else ""
        click.echo(
            f"{when}  {row['direction']:<9} {row['revision']}  {row['duration_ms']:>9.1f} ms"
            f"  {row['host']} pid {row['pid']}{version}{compatible}  {row['message']}"
        )


@click.command("heads")
@click.option("-v", "--verbose", is_flag=True, help="Show each head's details.")
@click.option(
    "--resolve-dependencies", is_flag=True, help="Treat dependencies as down revisions."
)
@_with_runner(database=False)
def heads_command(runner: Runner, verbose: bool, resolve_dependencies: bool) -> None:
    """List the script directory's heads."""
    _alembic().heads(_scripts_config(runner), verbose, resolve_dependencies)


@click.command("show")
@click.argument("revision", default="head")
@_with_runner(database=False)
def show_command(runner: Runner, revision: str) -> None:
    """Show REVISION (default: head): its id, parents, path and message."""
    _alembic().show(_scripts_config(runner), revision)


@click.command("branches")
@click.option("-v", "--verbose", is_flag=True, help="Show each branch point's details.")
@_with_runner(database=False)
def branches_command(runner: Runner, verbose: bool) -> None:
    """List the revisions where the history branches."""
    _alembic().branches(_scripts_config(runner), verbose)


def _scripts_config(runner: Runner) -> Any:
    """An Alembic config for the runner's script directory, for commands that need no
    connection from the guard."""
    return alembic_config(runner.scripts.directory, runner.x_arguments)


@click.command("check")
@_with_runner()
def check_command(runner: Runner) -> None:
    """Compare the models with the migrated database; fail if a migration is missing."""
    from alembic.util import AutogenerateDiffsDetected

    try:
        runner.run(_alembic().check, read_only=True)
    except AutogenerateDiffsDetected as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("merge")
@click.argument("revisions", nargs=-1)
@click.option("-m", "--message", default=None, help="The merge revision's message.")
@click.option("--branch-label", default=None, help="A branch label for the merge revision.")
@click.option("--rev-id", default=None, help="The merge revision's id (default: a new one).")
@_with_runner(database=False)
def merge_command(
    runner: Runner,
    revisions: tuple[str, ...],
    message: str | None,
    branch_label: str | None,
    rev_id: str | None,
) -> None:
    """Write a revision that merges REVISIONS (default: the heads) into one."""
    _alembic().merge(
        _scripts_config(runner),
        list(revisions) or "heads",
        message=message,
        branch_label=branch_label,
        rev_id=rev_id,
    )


COMMANDS = (
    status_command,
    upgrade_command,
    downgrade_command,
    stamp_command,
    current_command,
    history_command,
    heads_command,
    check_command,
    merge_command,
    show_command,
    branches_command,
    revision_command,
    migrate_command,
    edit_command,
)
