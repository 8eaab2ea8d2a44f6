"""Script heads read without imports give exactly Alembic's answer."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ibutsu_server import MIGRATIONS_DIR
from flask_migration_guard import heads
from flask_migration_guard.scripts import Scripts

ENV_PY = "from alembic import context\n"


def _alembic_heads(directory: Path) -> tuple[str, ...]:
    config = Config()
    config.set_main_option("script_location", str(directory))
    return tuple(sorted(ScriptDirectory.from_config(config).get_heads()))


def _render(value: object, style: int) -> str:
    """A Python literal for ``value`` in one of several spellings."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return repr(value) if style % 2 else f'"{value}"'
    items = list(value)  # type: ignore[call-overload]
    if style % 3 == 0:
        return repr(tuple(items))
    if style % 3 == 1:
        return repr(items)
    inner = "".join(f"    {item!r},\n" for item in items)
    return f"(\n{inner})"


def _write_revision(
    folder: Path,
    revision: str,
    parents: list[str],
    depends_on: list[str],
    label: str | None,
    style: int,
    computed: bool,
) -> None:
    down = None if not parents else parents[0] if len(parents) == 1 else parents
    annotation = ": str" if style % 4 == 0 else ""
    down_text = _render(down, style)
    if computed and isinstance(down, str):
        down_text = f"{down[:3]!r} + {down[3:]!r}"  # a value Alembic computes on import
    source = "\n".join(
        [
            f'"""revision {revision}: as it stands, down_revision below names its parents"""',
            "from alembic import op",
            "",
            '# revision = "not this one"',
            f"revision{annotation} = {_render(revision, style)}",
            f"down_revision = {down_text}",
            f"branch_labels = {_render(label, style)}",
            f"depends_on = {_render(depends_on or None, style)}",
            "",
            "",
            "def upgrade():",
            '    revision = "a local name, not the module\'s"',
            "    del revision",
            "",
            "",
            "def downgrade():",
            "    pass",
            "",
        ]
    )
    (folder / f"{revision}_generated.py").write_text(source)


@st.composite
def revision_graphs(draw: st.DrawFn) -> list[dict[str, object]]:
    """Random revision graphs: branches, merges, several bases, depends_on, labels."""
    count = draw(st.integers(min_value=1, max_value=25))
    ids = [f"r{index:03d}{draw(st.sampled_from('abcdef'))}" for index in range(count)]
    graph = []
    labels = []
    for index, revision in enumerate(ids):
        earlier = ids[:index]
        parents = (
            draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True)) if earlier else []
        )
        if earlier and not parents and draw(st.integers(0, 3)):
            parents = [earlier[-1]]
        label = f"branch_{index}" if draw(st.integers(0, 6)) == 0 else None
        if label:
            labels.append(label)
        depends = draw(st.lists(st.sampled_from(earlier + labels[:-1] if label else earlier + labels), max_size=2, unique=True)) if earlier else []  # noqa: E501
        graph.append(
            {
                "revision": revision,
                "parents": parents,
                "depends_on": depends,
                "label": label,
                "style": draw(st.integers(0, 11)),
                "computed": draw(st.integers(0, 9)) == 0,
            }
        )
    return graph


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(graph=revision_graphs())
def test_heads_equal_alembic_on_generated_graphs(graph: list[dict[str, object]]) -> None:
    """On any generated graph, the fast heads equal ScriptDirectory.get_heads()."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        versions = directory / "versions"
        versions.mkdir()
        (directory / "env.py").write_text(ENV_PY)
        for node in graph:
            _write_revision(versions, **node)  # type: ignore[arg-type]
        try:
            expected: tuple[str, ...] | type[Exception] = _alembic_heads(directory)
        except CommandError as exc:
            expected = type(exc)
        try:
            fast = heads.read_heads(str(directory))
            assert fast is None or fast == expected
            computed = any(node["computed"] for node in graph)
            if not computed and not isinstance(expected, type):
                assert fast == expected, "a plain graph Alembic accepts must not fall back"
            try:
                assert Scripts(str(directory)).heads == expected
            except CommandError as exc:
                assert expected is type(exc)
        finally:
            heads.forget(str(directory))


def test_real_chain_is_read_without_alembic() -> None:
    """The package's own revisions are plain: the fast path answers, with Alembic's head."""
    assert heads.read_heads(MIGRATIONS_DIR) == ("d18de2b3253f",)
    assert heads.read_heads(MIGRATIONS_DIR) == _alembic_heads(Path(MIGRATIONS_DIR))


def _chain(tmp_path: Path, count: int) -> Path:
    versions = tmp_path / "versions"
    versions.mkdir()
    (tmp_path / "env.py").write_text(ENV_PY)
    for index in range(count):
        parents = [f"c{index - 1:03d}"] if index else []
        _write_revision(versions, f"c{index:03d}", parents, [], None, 1, False)
    return versions


def test_an_edit_in_place_is_seen(tmp_path: Path) -> None:
    """A revision file rewritten in place (same folder entry), or a new one, is seen by the
    next process: the disk cache is keyed by each file's size and modification time."""
    versions = _chain(tmp_path, 3)
    try:
        assert heads.read_heads(str(tmp_path)) == ("c002",)
        target = versions / "c002_generated.py"
        with open(target, "r+") as handle:
            text = handle.read()
            handle.seek(0)
            handle.write(text.replace("revision = 'c002'", "revision = 'c00x'"))
        assert heads.read_heads(str(tmp_path)) == ("c002",), "one answer per process"
        heads.forget(str(tmp_path))
        assert heads.read_heads(str(tmp_path)) == ("c00x",) == _alembic_heads(tmp_path)
        (versions / "c003_generated.py").write_text(
            (versions / "c001_generated.py").read_text().replace("'c001'", "'c003'")
        )
        heads.forget(str(tmp_path))
        assert heads.read_heads(str(tmp_path)) == ("c003", "c00x") == _alembic_heads(tmp_path)
    finally:
        heads.forget(str(tmp_path))


def test_a_new_process_reads_the_disk_cache(tmp_path: Path) -> None:
    """The headers are kept in versions/__pycache__/ and reused while files are unchanged."""
    _chain(tmp_path, 4)
    versions = str(tmp_path / "versions")
    try:
        assert heads.read_heads(str(tmp_path)) == ("c003",)
        assert os.path.isfile(os.path.join(versions, heads.CACHE_FILE))
        heads.forget(str(tmp_path))
        assert heads.read_heads(str(tmp_path)) == ("c003",)
    finally:
        heads.forget(str(tmp_path))


@pytest.mark.parametrize(
    "down_revision",
    [
        "'c00' + '1'",  # computed
        "PARENT",  # a name
        "__import__('os').getenv('X', 'c001')",  # dynamic
    ],
)
def test_values_that_are_not_literals_defer_to_alembic(tmp_path: Path, down_revision: str) -> None:
    """Anything but a plain literal makes the fast path step aside; the answer stays Alembic's."""
    versions = _chain(tmp_path, 2)
    extra = versions / "c009_generated.py"
    extra.write_text(
        f"PARENT = 'c001'\nrevision = 'c009'\ndown_revision = {down_revision}\n"
    )
    try:
        assert heads.read_heads(str(tmp_path)) is None
        assert Scripts(str(tmp_path)).heads == _alembic_heads(tmp_path) == ("c009",)
    finally:
        heads.forget(str(tmp_path))


def test_a_missing_parent_defers_to_alembic_which_refuses(tmp_path: Path) -> None:
    """A graph Alembic rejects gets no fast answer, and the guard sees Alembic's error."""
    versions = _chain(tmp_path, 2)
    (versions / "c005_generated.py").write_text("revision = 'c005'\ndown_revision = 'nope'\n")
    try:
        assert heads.read_heads(str(tmp_path)) is None
        with pytest.warns(UserWarning, match="nope"), pytest.raises(KeyError):
            Scripts(str(tmp_path)).heads
    finally:
        heads.forget(str(tmp_path))


def _alembic_pending(script: ScriptDirectory, current: tuple[str, ...]) -> tuple[str, ...]:
    steps = script.revision_map.iterate_revisions(
        tuple(script.get_heads()), current or "base", inclusive=False, implicit_base=True
    )
    return tuple(reversed([step.revision for step in steps]))


def _alembic_resolve(script: ScriptDirectory, revision: str) -> str | None:
    try:
        found = script.get_revision(revision)
    except CommandError:
        return None
    return found.revision if found is not None else None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ids=st.lists(
        st.text("abc0", min_size=1, max_size=6), min_size=1, max_size=12, unique=True
    ).filter(lambda ids: all(not known.isdigit() for known in ids))
)
def test_a_line_of_revisions_is_read_as_alembic_reads_it(ids: list[str]) -> None:
    """For a chain that is one line, pending lists, full ids for partial ones, and sets of
    heads come from the text alone, and equal Alembic's answers."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        versions = directory / "versions"
        versions.mkdir()
        (directory / "env.py").write_text(ENV_PY)
        for index, revision in enumerate(ids):
            parents = [ids[index - 1]] if index else []
            _write_revision(versions, revision, parents, [], None, 1, False)
        try:
            assert heads.read_line(str(directory)) == tuple(ids)
            config = Config()
            config.set_main_option("script_location", str(directory))
            script = ScriptDirectory.from_config(config)
            scripts = Scripts(str(directory))
            for current in [(), *((known,) for known in ids)]:
                assert scripts.pending(current) == _alembic_pending(script, current)
            for revision in ids:
                for end in range(1, len(revision) + 1):
                    prefix = revision[:end]
                    assert scripts.resolve(prefix) == _alembic_resolve(script, prefix), prefix
            assert scripts.are_independent(ids[:1])
            assert scripts.are_independent(ids[:2]) is (len(ids) < 2)
            assert "script" not in scripts.__dict__, "Alembic was loaded"
        finally:
            heads.forget(str(directory))


def test_branches_are_left_to_alembic(tmp_path: Path) -> None:
    """A chain with a branch point is not a line: Scripts asks Alembic."""
    versions = tmp_path / "versions"
    versions.mkdir()
    (tmp_path / "env.py").write_text(ENV_PY)
    for revision, parents in (("aaaa", []), ("bbbb", ["aaaa"]), ("cccc", ["aaaa"])):
        _write_revision(versions, revision, parents, [], None, 1, False)
    try:
        assert heads.read_line(str(tmp_path)) is None
        scripts = Scripts(str(tmp_path))
        assert scripts.are_independent(["bbbb", "cccc"])
        assert "script" in scripts.__dict__
    finally:
        heads.forget(str(tmp_path))
