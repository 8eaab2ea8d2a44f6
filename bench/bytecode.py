"""Children that run as an installed package does: with bytecode.

pip compiles an installed package's bytecode at install time; a checkout has none, and
where ``PYTHONDONTWRITEBYTECODE`` is set it never gets any, so each process would
compile every source file of the checkout it imports. The benchmarks give their
children a scratch ``PYTHONPYCACHEPREFIX`` instead, filled by a warm-up run.
"""

from __future__ import annotations

import os


def environment(prefix: str, **extra: str) -> dict[str, str]:
    """This process's environment with bytecode written and read under ``prefix``."""
    variables = {key: value for key, value in os.environ.items()
                 if key != "PYTHONDONTWRITEBYTECODE"}
    return {**variables, "PYTHONPYCACHEPREFIX": prefix, **extra}
