"""The import layering of docs/architecture.md, read from the source with ``ast``.

* ``processors/`` imports nothing from ``streams``;
* no module outside streams/faust_adapter/ names a private attribute of faust, mode or aiokafka
  (the names the adapter checks at import, and any ``getattr(x, "_...")``);
* no import cycle between the packages of ``streams``, nor between its modules at import time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from streams.faust_adapter.private_names import required_names

ROOT = Path(__file__).parent.parent
ADAPTER = ROOT / "streams" / "faust_adapter"
SHARED_MODULES = {"streams.config", "streams.logs"}
"""Top-level modules every package may import (streams/config.py gathers the packages' own
settings classes, so it imports some of them back: a shared leaf, not a layer)."""
GATHERERS = {"streams.config", "streams.views.metrics_catalog"}
"""Modules that list a part of every package (the settings classes; the metric specs every
package declares, for /metrics' documentation): they import from all packages by design, so
their imports do not make a package depend on another."""


def modules(*tops: str) -> Iterator[tuple[str, Path, ast.Module]]:
    for top in tops:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            yield name.removesuffix(".__init__"), path, ast.parse(path.read_text(), str(path))


def run_time_nodes(tree: ast.AST, at_import: bool = False) -> Iterator[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (imports for type
    annotations only: they never run, so they make no import cycle); ``at_import``: only what
    runs when the module is imported (not the bodies of functions)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in TYPE_CHECKING_TESTS:
            for child in node.orelse:
                yield child
                yield from run_time_nodes(child, at_import)
            continue
        yield node
        if not (at_import and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)):
            yield from run_time_nodes(node, at_import)


TYPE_CHECKING_TESTS = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def imports(tree: ast.Module, at_import: bool = False) -> Iterator[str]:
    for node in run_time_nodes(tree, at_import):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_processors_import_nothing_of_streams() -> None:
    offending = [
        (name, imported)
        for name, _, tree in modules("processors")
        for imported in imports(tree)
        if imported == "streams" or imported.startswith("streams.")
    ]
    assert offending == []


def private_uses(tree: ast.Module, names: set[str]) -> Iterator[tuple[int, str]]:
    """Where ``tree`` reads or writes one of ``names`` on something other than ``self`` or
    ``cls`` (a class's own attributes may share a name), or passes a private name to
    ``getattr``/``setattr``/``hasattr``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names:
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in {"self", "cls"}):
                yield node.lineno, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and node.args[1].value.startswith("_")
            and not node.args[1].value.startswith("__")
        ):
            yield node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"


def adapter_private_names() -> set[str]:
    return {name for _, names in required_names().values() for name in names}


def test_no_module_outside_the_adapter_names_a_private_attribute_of_faust_mode_or_aiokafka() -> (
    None
):
    names = adapter_private_names()
    assert {"_committed_offset", "_acked", "_read_offset", "_drain_messages"} <= names
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for _, path, tree in modules("streams", "bench", "processors")
        if ADAPTER not in path.parents
        for line, what in private_uses(tree, names)
    ]
    assert offending == []


def test_the_scan_finds_a_private_name_outside_the_adapter() -> None:
    names = adapter_private_names()
    tree = ast.parse(
        "def lag(consumer):\n"
        "    done = consumer._committed_offset\n"
        "    read = getattr(consumer, '_read_offset', {})\n"
        "    self._acked = []\n"
    )
    assert list(private_uses(tree, names)) == [
        (2, "_committed_offset"),
        (3, "getattr(..., '_read_offset')"),
    ]


def package_of(module: str) -> str:
    """``streams.worker.checkpoint`` -> ``streams.worker``; top-level modules are their own."""
    return ".".join(module.split(".")[:2])


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as the path of nodes around it), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def import_graphs() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(package graph, module graph) of ``streams``: who imports whom. The package graph
    counts every import (function-level ones too); the module graph only those that run when
    a module is imported (a cycle there breaks the import)."""
    known = {name for name, _, _ in modules("streams")}
    packages: dict[str, set[str]] = {}
    by_module: dict[str, set[str]] = {}
    for name, _, tree in modules("streams"):
        at_import = set(imports(tree, at_import=True))
        for imported in imports(tree):
            target = imported
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target not in known or target == "streams":
                continue
            if imported in at_import:
                by_module.setdefault(name, set()).add(target)
            if name in GATHERERS or target in GATHERERS:
                continue
            source, dest = package_of(name), package_of(target)
            if source != dest and not {source, dest} & SHARED_MODULES:
                packages.setdefault(source, set()).add(dest)
    return packages, by_module


def test_no_import_cycle_between_the_packages_of_streams() -> None:
    packages, by_module = import_graphs()
    assert "streams.faust_adapter" in packages["streams.app"]
    assert cycle(packages) is None
    assert cycle(by_module) is None


def test_the_cycle_finder_finds_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycle(graph) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_imports_skip_type_checking_blocks_and_function_bodies_at_import() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nimport a\n"
        "if TYPE_CHECKING:\n    import b\nelse:\n    import c\n"
        "def f():\n    import d\n"
    )
    assert list(imports(tree)) == ["typing", "a", "c", "d"]
    assert list(imports(tree, at_import=True)) == ["typing", "a", "c"]
