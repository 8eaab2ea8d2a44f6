"""The script directory's revision graph, as the guard needs it.

Alembic is imported only when something more than the heads is asked for: a
boot that finds the database at head never loads it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from flask_migration_guard.errors import BrokenScriptsError
from flask_migration_guard.heads import read_checksums, read_heads, read_line

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory


def alembic_config(directory: str, x_arguments: Sequence[str] = ()) -> Config:
    """An Alembic config for ``directory``: its ``alembic.ini`` when it holds one (Flask-Migrate's
    layout, whose env.py reads it), else none.

    :param x_arguments: what ``-x`` gives env.py (``context.get_x_argument()``).
    """
    import argparse  # with Alembic, which needs it too: a boot in check mode imports neither

    from alembic.config import Config

    ini = os.path.join(directory, "alembic.ini")
    config = Config(
        ini if os.path.isfile(ini) else None,
        stdout=sys.stdout,
        cmd_opts=argparse.Namespace(x=list(x_arguments)),
    )
    config.set_main_option("script_location", directory)
    return config


class Scripts:
    """Heads, known revisions and pending lists of one script directory.

    The heads, and for a chain that is one line of revisions everything else
    (pending lists, known revisions), come from :mod:`flask_migration_guard.heads`
    without importing the revision files: Alembic, which imports each of them, is
    then loaded only by the command that migrates. Branches, merges and anything
    else the text cannot settle ask Alembic, loaded once on first use.

    :param directory: the folder holding ``env.py`` and ``versions/``.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @cached_property
    def script(self) -> ScriptDirectory:
        """Alembic's view of the directory, every revision file loaded, on first use.

        :raises BrokenScriptsError: when a revision file cannot be read or imported.
        """
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config(self.directory))
        try:
            script.revision_map.heads  # noqa: B018  (imports every revision file now)
        except (SyntaxError, UnicodeDecodeError, ImportError) as exc:
            raise BrokenScriptsError(self.directory, exc) from exc
        return script

    @property
    def heads(self) -> tuple[str, ...]:
        """The script heads, sorted: exactly what Alembic's ``get_heads()`` returns."""
        fast = read_heads(self.directory)
        if fast is not None:
            return fast
        return tuple(sorted(self.script.get_heads()))

    @property
    def _line(self) -> tuple[str, ...] | None:
        return read_line(self.directory)

    @cached_property
    def checksums(self) -> dict[str, str]:
        """Each revision file's code checksum, by revision id (see :mod:`.history`)."""
        fast = read_checksums(self.directory)
        if fast is not None:
            return fast
        from flask_migration_guard.history import file_checksum

        return {
            script.revision: file_checksum(script.path)
            for script in self.script.walk_revisions()
        }

    def resolve(self, revision: str) -> str | None:
        """The full id Alembic takes ``revision`` for (it takes unique prefixes too); else None."""
        if self._line is not None:
            if revision in self._line:
                return revision
            # Alembic's rule for a partial id: ids longer than 3 that start with it, one only.
            found = [known for known in self._line if len(known) > 3 and known.startswith(revision)]
            return found[0] if len(found) == 1 else None
        from alembic.util import CommandError

        try:
            script = self.script.get_revision(revision)
        except CommandError:
            return None
        return script.revision if script is not None else None

    def is_known(self, revision: str) -> bool:
        """Whether ``revision`` is the full id of a revision."""
        return self.resolve(revision) == revision

    def _ancestors(self, revision: str) -> set[str]:
        return {
            script.revision
            for script in self.script.revision_map.iterate_revisions(revision, "base")
        }

    def are_independent(self, revisions: Sequence[str]) -> bool:
        """Whether no revision is an ancestor of another: a valid set of heads."""
        if self._line is not None:  # on one line, of any two one is the other's ancestor
            return len(revisions) <= 1
        for revision in revisions:
            ancestors = self._ancestors(revision) - {revision}
            if ancestors.intersection(revisions):
                return False
        return True

    def pending(self, current: Iterable[str]) -> tuple[str, ...]:
        """Revisions an upgrade from ``current`` to the heads applies, in order."""
        lower = tuple(current)
        if self._line is not None and set(lower) <= set(self._line) and len(lower) <= 1:
            start = self._line.index(lower[0]) + 1 if lower else 0
            return self._line[start:]
        upgrades = self.script.revision_map.iterate_revisions(
            self.heads, lower or "base", inclusive=False, implicit_base=True
        )
        ordered = [script.revision for script in upgrades]
        ordered.reverse()
        return tuple(ordered)
