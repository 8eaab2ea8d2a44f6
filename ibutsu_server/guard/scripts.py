"""The script directory's revision graph, as the guard needs it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError


def alembic_config(directory: str) -> Config:
    """An Alembic config for ``directory``, with no ini file and no logging setup."""
    import sys

    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", directory)
    return config


class Scripts:
    """Heads, known revisions and pending lists of one script directory.

    :param directory: the folder holding ``env.py`` and ``versions/``.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.script = ScriptDirectory.from_config(alembic_config(directory))

    @cached_property
    def heads(self) -> tuple[str, ...]:
        """The script heads, sorted."""
        return tuple(sorted(self.script.get_heads()))

    def is_known(self, revision: str) -> bool:
        try:
            return self.script.get_revision(revision) is not None
        except CommandError:
            return False

    def _ancestors(self, revision: str) -> set[str]:
        return {
            script.revision
            for script in self.script.revision_map.iterate_revisions(revision, "base")
        }

    def are_independent(self, revisions: Sequence[str]) -> bool:
        """Whether no revision is an ancestor of another: a valid set of heads."""
        for revision in revisions:
            ancestors = self._ancestors(revision) - {revision}
            if ancestors.intersection(revisions):
                return False
        return True

    def pending(self, current: Iterable[str]) -> tuple[str, ...]:
        """Revisions an upgrade from ``current`` to the heads applies, in order."""
        lower = tuple(current)
        upgrades = self.script.revision_map.iterate_revisions(
            self.heads, lower or "base", inclusive=False, implicit_base=True
        )
        ordered = [script.revision for script in upgrades]
        ordered.reverse()
        return tuple(ordered)
