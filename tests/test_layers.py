"""The import contract of dnabench: layers only import downwards and modules never import in a loop.

Both checks read the source statically, so imports written inside functions count as much as
top-level ones. Run as a script (``python tests/test_layers.py --check layers|cycles``) the same
checks analyse whichever ``dnabench`` comes first on ``sys.path``; the copy-based tests use that to
prove the checks catch a violation planted in a throwaway copy of the package.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grimp

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
PACKAGE = "dnabench"


def check_layers(config: Path = PYPROJECT) -> tuple[bool, str]:
    """Run the import-linter contracts of ``config``; return whether all were kept, and the report.

    The report is import-linter's own text, so a failure names the import that broke a layer.
    Caching is off so that no cache directory is written into the working tree.
    """
    import importlinter.api  # noqa: F401  (configures import-linter's adapters)
    from importlinter.application import use_cases

    options: dict[str, Any] = {"config_filename": str(config), "cache_dir": None}
    if "no_logo" in inspect.signature(use_cases.lint_imports).parameters:
        options["no_logo"] = True
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        kept = use_cases.lint_imports(**options)
    return kept, buffer.getvalue()


def _is_within(module: str, package: str) -> bool:
    return module.startswith(package + ".")


def without_own_packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """``edges`` less each import of a package that contains the importer.

    ``import dnabench.tokenize`` inside ``dnabench.tokenize.base`` or ``from dnabench import
    __version__`` reach an ``__init__`` that Python has already run before the submodule; kept,
    they would close a loop with every ``__init__`` that re-exports its submodules. grimp already
    resolves ``from package import submodule`` to the submodule itself. What is left of a package
    ``__init__`` (its imports of its own submodules) can then only be on a loop that leaves the
    package and comes back, which is a real one.
    """
    return {
        module: {imported for imported in targets if not _is_within(module, imported)}
        for module, targets in edges.items()
    }


def build_graph(package: str = PACKAGE) -> grimp.ImportGraph:
    """grimp's graph of ``package`` alone, lazy imports included, with no cache left behind."""
    import grimp

    return grimp.build_graph(package, include_external_packages=False, cache_dir=None)


def module_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """The direct imports between the modules of ``graph``, own packages left out."""
    return without_own_packages(
        {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    )


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``edges``, each sorted, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return sorted(components)


def _shortest_cycle_through(start: str, edges: dict[str, set[str]], members: set[str]) -> list[str]:
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(edges[node] & members):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return path[::-1]
            if successor not in previous:
                previous[successor] = node
                queue.append(successor)
    raise AssertionError(f"{start} is in a strongly connected component but on no cycle")


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One shortest import loop through every module that is on a loop, without repeats.

    Each loop is rotated to start at its smallest module name, so the output is stable.
    """
    cycles: list[list[str]] = []
    for component in strongly_connected(edges):
        members = set(component)
        if len(component) == 1 and component[0] not in edges[component[0]]:
            continue
        for module in component:
            cycle = _shortest_cycle_through(module, edges, members)
            first = cycle.index(min(cycle))
            cycle = cycle[first:] + cycle[:first]
            if cycle not in cycles:
                cycles.append(cycle)
    return cycles


def format_cycle(cycle: Sequence[str]) -> str:
    """A loop as ``a -> b -> c -> a``."""
    return " -> ".join([*cycle, cycle[0]])


def check_cycles(package: str = PACKAGE) -> tuple[bool, str]:
    """Whether ``package`` is free of import loops, and a report naming each loop and its imports."""
    graph = build_graph(package)
    cycles = find_cycles(module_edges(graph))
    if not cycles:
        return True, f"No import cycles among {package} modules.\n"
    lines = [f"{len(cycles)} import cycle(s) among {package} modules:"]
    for cycle in cycles:
        lines.append("")
        lines.append(format_cycle(cycle))
        for importer, imported in zip(cycle, [*cycle[1:], cycle[0]]):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(
                    f"    {importer} l.{detail['line_number']}: {detail['line_contents'].strip()}"
                )
    return False, "\n".join(lines) + "\n"


CHECKS = {"layers": check_layers, "cycles": check_cycles}


def main(argv: Sequence[str]) -> int:
    """``--check layers|cycles``: print the report, exit 1 when the check fails."""
    if len(argv) != 2 or argv[0] != "--check" or argv[1] not in CHECKS:
        print(f"usage: {Path(__file__).name} --check {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    ok, report = CHECKS[argv[1]]()
    print(report, end="")
    return 0 if ok else 1


def test_layers_point_down() -> None:
    kept, report = check_layers()
    assert kept, "import-linter contracts broken:\n" + report


def test_no_import_cycles() -> None:
    ok, report = check_cycles()
    assert ok, report


def _copy_with(tmp_path: Path, relative: str, code: str) -> Path:
    """A copy of the package with ``code`` appended to one of its files; returns the copy's root."""
    src = tmp_path / "src"
    shutil.copytree(
        REPO / "src" / PACKAGE, src / PACKAGE, ignore=shutil.ignore_patterns("__pycache__")
    )
    target = src / PACKAGE / relative
    target.write_text(target.read_text() + code)
    return src


def _run_check_on(src: Path, check: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    env.pop("FORCE_COLOR", None)
    env["TERM"] = "dumb"
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--check", check],
        cwd=src.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_contract_catches_an_upward_import(tmp_path: Path) -> None:
    """A lazy import from the bottom layer up to the cli breaks the contract, and is named."""
    src = _copy_with(
        tmp_path,
        "alphabet.py",
        "\n\ndef _planted_upward_import() -> None:\n    import dnabench.cli  # noqa: F401\n",
    )
    result = _run_check_on(src, "layers")
    report = _flat(result.stdout + result.stderr)
    assert result.returncode == 1, report
    assert "dnabench.alphabet is not allowed to import dnabench.cli" in report, report
    assert "dnabench.alphabet -> dnabench.cli" in report, report


def test_cycle_check_catches_a_loop(tmp_path: Path) -> None:
    """A lazy import back from models.config to models.heads closes a loop, and is named."""
    src = _copy_with(
        tmp_path,
        "models/config.py",
        "\n\ndef _planted_cycle() -> None:\n    import dnabench.models.heads  # noqa: F401\n",
    )
    result = _run_check_on(src, "cycles")
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    planted = "dnabench.models.config -> dnabench.models.heads -> dnabench.models.config"
    assert planted in report.splitlines(), report


def test_cycle_finder_ignores_a_package_and_its_own_submodules() -> None:
    """A package re-exporting a submodule that imports the package back is no loop; a real one is."""
    edges = {
        "p": {"p.a", "p.b"},
        "p.a": {"p"},
        "p.b": {"q"},
        "q": {"p"},
    }
    assert find_cycles(without_own_packages(edges)) == [["p", "p.b", "q"]]
    assert format_cycle(["p", "p.b", "q"]) == "p -> p.b -> q -> p"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
