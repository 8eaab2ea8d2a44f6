"""Script heads without importing the revision files.

Alembic finds the heads by importing every revision module. The revision ids
and their parents are plain literals at the top of each file, so they can be
read as text instead, and cached by each file's name, size and modification
time. Whenever a file is not that simple (a computed value, an assignment in a
block, a value spread over too many lines, a compiled-only file), or the graph
is one Alembic would reject (a missing parent, a duplicate id, a cycle, an
unknown dependency), :func:`read_heads` returns ``None`` and the caller asks
Alembic instead.

Alembic's rule, mirrored here: the heads are the revisions no other revision
names as a ``down_revision``; ``depends_on`` never changes the heads.

Revision files do not change under a running process (a deploy starts new
ones), so each process reads a folder once and keeps the answer.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass


# Which files Alembic loads from a version folder (not sourceless, not recursive).
_REVISION_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")
_NAMES = frozenset({"revision", "down_revision", "depends_on", "branch_labels"})
_DYNAMIC_CALLS = frozenset({"globals", "locals", "vars", "exec", "eval", "setattr", "__import__"})


class _NotSimple(Exception):
    """The file is not in the plain form this module can read."""


@dataclass(frozen=True)
class RevisionHeader:
    """The identifiers at the top of one revision file."""

    revision: str
    down_revisions: tuple[str, ...]
    depends_on: tuple[str, ...]
    branch_labels: tuple[str, ...]
    #: :func:`code_checksum` of the whole file.
    checksum: str = ""


def code_checksum(module: ast.Module) -> str:
    """A checksum of a parsed file's code: the same after changes to whitespace or comments
    alone, different after any change to what the file does or says."""
    tree = ast.dump(module, include_attributes=False)
    return hashlib.sha256(tree.encode()).hexdigest()


def _as_ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _NotSimple(f"not a revision id or a sequence of them: {value!r}")


def _simple_assignment(statement: ast.stmt) -> tuple[str, ast.expr] | None:
    """``name = value`` or ``name: type = value`` for one of the identifier names."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target, value = statement.target, statement.value
    else:
        return None
    if isinstance(target, ast.Name) and target.id in _NAMES:
        return target.id, value
    return None


def _binds_identifier(node: ast.AST) -> bool:
    """Whether ``node`` could bind an identifier name at module scope in another way."""
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id in _NAMES:
            if isinstance(child.ctx, (ast.Store, ast.Del)):
                return True
        elif isinstance(child, ast.alias):
            if (child.asname or child.name.split(".")[0]) in _NAMES or child.name == "*":
                return True
        elif isinstance(child, (ast.Global, ast.Nonlocal)):
            if _NAMES.intersection(child.names):
                return True
        elif isinstance(child, ast.Call) and isinstance(child.func, ast.Name):
            if child.func.id in _DYNAMIC_CALLS:
                return True
    return False


def parse_header(source: str) -> RevisionHeader:
    """Read the identifiers from a revision file's text, without running it.

    :raises _NotSimple: when the file is not in the plain form.
    """
    try:
        module = ast.parse(source)
    except SyntaxError as exc:
        raise _NotSimple(str(exc)) from exc
    found: dict[str, object] = {}
    for statement in module.body:
        assignment = _simple_assignment(statement)
        if assignment is not None:
            name, value = assignment
            if name in found or _binds_identifier(value):
                raise _NotSimple(f"{name} assigned twice or in an unusual way")
            try:
                found[name] = ast.literal_eval(value)
            except ValueError as exc:
                raise _NotSimple(f"{name} is not a plain literal") from exc
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if any(_binds_identifier(d) for d in statement.decorator_list) or any(
                isinstance(n, (ast.Global, ast.Nonlocal)) and _NAMES.intersection(n.names)
                for n in ast.walk(statement)
            ):
                raise _NotSimple("identifiers bound from a function or class")
        elif _binds_identifier(statement):
            raise _NotSimple("identifiers bound in an unusual way")
    revision = found.get("revision")
    if not isinstance(revision, str) or "down_revision" not in found:
        raise _NotSimple("no plain revision and down_revision")
    return RevisionHeader(
        revision=revision,
        down_revisions=_as_ids(found["down_revision"]),
        depends_on=_as_ids(found.get("depends_on")),
        branch_labels=_as_ids(found.get("branch_labels")),
        checksum=code_checksum(module),
    )


# name -> (size, mtime_ns, header), per version folder; kept in memory and in
# versions/__pycache__/ (where Python keeps bytecode), so a new process reads
# one small file instead of parsing every revision.
_Entries = dict[str, tuple[int, int, RevisionHeader]]


@dataclass
class _Folder:
    """What is known of one version folder: its files' headers and the heads they give."""

    entries: _Entries
    heads: tuple[str, ...] | None
    heads_known: bool


_memory: dict[str, _Folder] = {}
CACHE_FILE = os.path.join("__pycache__", "guard-revision-headers.json")
_CACHE_FORMAT = 3


def _load_cache(versions: str) -> _Folder:
    if versions in _memory:
        return _memory[versions]
    folder = _Folder({}, None, False)
    try:
        with open(os.path.join(versions, CACHE_FILE), encoding="utf-8") as cache:
            data = json.load(cache)
        if data.get("format") == _CACHE_FORMAT:
            for name, (size, mtime_ns, rev, down, deps, labels, sums) in data["files"].items():
                header = RevisionHeader(rev, tuple(down), tuple(deps), tuple(labels), sums)
                folder.entries[name] = (size, mtime_ns, header)
            heads = data["heads"]
            folder.heads = None if heads is None else tuple(heads)
            folder.heads_known = True
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        folder = _Folder({}, None, False)
    _memory[versions] = folder
    return folder


def _save_cache(versions: str, folder: _Folder) -> None:
    files = {
        name: [
            size, mtime, h.revision, h.down_revisions, h.depends_on, h.branch_labels, h.checksum
        ]
        for name, (size, mtime, h) in folder.entries.items()
    }
    path = os.path.join(versions, CACHE_FILE)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as cache:
            json.dump({"format": _CACHE_FORMAT, "files": files, "heads": folder.heads}, cache)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only install: the in-memory cache still serves this process


def _current_entries(versions: str, cached: _Entries) -> _Entries | None:
    """Every revision file's header, reusing ``cached`` for files whose size and mtime match."""
    current: _Entries = {}
    try:
        with os.scandir(versions) as entries:
            for entry in entries:
                if not _REVISION_FILE.match(entry.name):
                    continue
                if not entry.is_file():
                    return None
                stat = entry.stat()
                known = cached.get(entry.name)
                if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
                    current[entry.name] = known
                    continue
                with open(entry.path, encoding="utf-8") as source:
                    header = parse_header(source.read())
                current[entry.name] = (stat.st_size, stat.st_mtime_ns, header)
    except (OSError, UnicodeDecodeError, _NotSimple):
        return None
    return current


def _read_folder(versions: str) -> _Folder | None:
    """The version folder's headers and heads, through the in-memory and on-disk caches;
    ``None`` when a file is not in the plain form."""
    folder = _load_cache(versions)
    entries = _current_entries(versions, folder.entries)
    if entries is None:
        return None
    if entries == folder.entries and folder.heads_known:
        return folder
    folder = _Folder(entries, heads_of([header for _, _, header in entries.values()]), True)
    _memory[versions] = folder
    _save_cache(versions, folder)
    return folder


def _reach(starts: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen


def _covers_all(nodes: set[str], down: dict[str, set[str]]) -> bool:
    """Alembic's cycle test: every node lies between a head and a base."""
    up: dict[str, set[str]] = {node: set() for node in nodes}
    for node, parents in down.items():
        for parent in parents:
            up[parent].add(node)
    heads = [node for node in nodes if not up[node]]
    bases = [node for node in nodes if not down[node]]
    if not heads or not bases:
        return False
    return _reach(heads, down) & _reach(bases, up) == nodes


def heads_of(headers: list[RevisionHeader]) -> tuple[str, ...] | None:
    """The heads of a revision graph, or ``None`` where Alembic would raise."""
    ids = [header.revision for header in headers]
    nodes = set(ids)
    if len(nodes) != len(ids):
        return None
    labels: dict[str, str] = {}
    for header in headers:
        for label in header.branch_labels:
            if label in labels or label in nodes:
                return None
            labels[label] = header.revision
    down: dict[str, set[str]] = {h.revision: set(h.down_revisions) for h in headers}
    everything: dict[str, set[str]] = {}
    for header in headers:
        if not set(header.down_revisions) <= nodes:
            return None
        dependencies = set()
        for dependency in header.depends_on:
            resolved = dependency if dependency in nodes else labels.get(dependency)
            if resolved is None:
                return None
            dependencies.add(resolved)
        everything[header.revision] = down[header.revision] | dependencies
    if nodes and not (_covers_all(nodes, down) and _covers_all(nodes, everything)):
        return None
    named_as_parent = {parent for parents in down.values() for parent in parents}
    return tuple(sorted(nodes - named_as_parent))


def _line_of(headers: Iterable[RevisionHeader]) -> tuple[str, ...] | None:
    """The revisions from base to head when they form one line (one parent and one child
    each at most, no dependencies); else ``None``."""
    child: dict[str, str] = {}
    base = []
    for header in headers:
        if header.depends_on or len(header.down_revisions) > 1:
            return None
        if not header.down_revisions:
            base.append(header.revision)
        elif child.setdefault(header.down_revisions[0], header.revision) != header.revision:
            return None  # a branch point
    if len(base) != 1:
        return None
    line = base
    while line[-1] in child:
        line.append(child[line[-1]])
    return tuple(line)


@dataclass(frozen=True)
class _Answer:
    heads: tuple[str, ...] | None
    line: tuple[str, ...] | None


_answers: dict[str, _Answer] = {}


def _answer(directory: str) -> _Answer:
    """What the first call in a process read of ``directory`` (each file's size and
    modification time against the disk cache); later calls get the same."""
    if directory not in _answers:
        folder = _read_folder(os.path.join(directory, "versions"))
        if folder is None or folder.heads is None:
            _answers[directory] = _Answer(None, None)
        else:
            headers = [header for _, _, header in folder.entries.values()]
            _answers[directory] = _Answer(folder.heads, _line_of(headers))
    return _answers[directory]


def read_heads(directory: str) -> tuple[str, ...] | None:
    """The script heads of ``directory`` read as text, or ``None`` to defer to Alembic."""
    return _answer(directory).heads


def read_line(directory: str) -> tuple[str, ...] | None:
    """The revisions of ``directory`` from base to head, read as text, when they form one
    line; ``None`` to defer to Alembic (branches, merges, dependencies, unusual files)."""
    return _answer(directory).line


def read_checksums(directory: str) -> dict[str, str] | None:
    """Each revision's :func:`code_checksum`, by id, read as text; ``None`` to defer to
    Alembic (a file not in the plain form)."""
    folder = _read_folder(os.path.join(directory, "versions"))
    if folder is None:
        return None
    return {header.revision: header.checksum for _, _, header in folder.entries.values()}


def read_message(directory: str, revision: str) -> str:
    """The first line of ``revision``'s docstring, read from its file as text; "" when the
    folder is not one this module reads, or the file has no docstring."""
    versions = os.path.join(directory, "versions")
    folder = _memory.get(versions) or _read_folder(versions)
    if folder is None:
        return ""
    for name, (_, _, header) in folder.entries.items():
        if header.revision == revision:
            try:
                with open(os.path.join(versions, name), encoding="utf-8") as source:
                    docstring = ast.get_docstring(ast.parse(source.read())) or ""
            except (OSError, UnicodeDecodeError, SyntaxError):
                return ""
            return docstring.strip().split("\n", 1)[0]
    return ""


def forget(directory: str) -> None:
    """Drop what this process knows of ``directory``, as a new process would not know it."""
    _answers.pop(directory, None)
    _memory.pop(os.path.join(directory, "versions"), None)
