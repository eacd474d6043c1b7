"""The import graph of physground's sources: one namespace, dependencies pointing one way, no circles.

Every import statement counts, also those deferred into functions: a deferred import still makes
one module need the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("envs", "perception", "dynamics", "agent", "experiments")
"""The subpackages, lowest first: each may import only itself and those before it."""


def sources() -> dict[str, Path]:
    """Module name (``physground.agent.ppo``) -> file, for every module of the five subpackages."""
    out = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(("physground",) + (parts[:-1] if parts[-1] == "__init__" else parts))
            out[name] = path
    return out


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of everything every import statement in ``path`` names: ``import a.b``
    gives ``a.b``, ``from a.b import c`` gives ``a.b.c`` (a module, or a name of module ``a.b``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # from a.b import c: module a.b.c if there is one, else a.b (resolved by the caller)
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def physground_edges() -> dict[str, set[str]]:
    """Module -> the physground modules it imports (a package import counts as its ``__init__``)."""
    modules = sources()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for _, target in imported_names(path):
            while target not in modules and "." in target:  # from physground.envs.scene import X -> the module
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                targets.add(target)
        edges[name] = targets
    return edges


def test_every_module_imports_physground_by_its_namespace():
    bare = [
        f"{path.relative_to(ROOT)}:{line} imports {target!r}"
        for path in sources().values()
        for line, target in imported_names(path)
        if target.split(".")[0] in LAYERS
    ]
    assert not bare, "bare top-level imports (use physground.<package>): " + "; ".join(bare)


def test_dependencies_point_one_way():
    wrong = [
        f"{a} imports {b}"
        for a, targets in physground_edges().items()
        for b in targets
        if LAYERS.index(b.split(".")[1]) > LAYERS.index(a.split(".")[1])
    ]
    assert not wrong, f"imports from a lower package into a higher one ({' <- '.join(LAYERS)}): " + "; ".join(sorted(wrong))


def test_no_import_circles():
    edges = physground_edges()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import circle: " + " -> ".join(cycle))


def test_the_checker_sees_a_circle_and_a_wrong_way_import(tmp_path):
    """The graph reading itself: a deferred import inside a function is an edge."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from physground.experiments.cli import main\n\nimport physground.envs.scene as scene\n")
    assert sorted(t for _, t in imported_names(source)) == ["physground.envs.scene", "physground.experiments.cli.main"]


def test_no_argparse_below_the_command_line():
    """Library first: only the CLI's own modules parse arguments."""
    allowed = {"physground.experiments.cli", "physground.experiments.cli_options"}
    users = [name for name, path in sources().items() if name not in allowed and any(t.split(".")[0] == "argparse" for _, t in imported_names(path))]
    assert not users, "argparse below experiments/cli.py: " + ", ".join(users)
