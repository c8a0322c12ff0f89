"""The package's modules and the imports between them, read from the source (the AST),
and a check that each module imports on its own in a fresh interpreter.

Modules are found where pyproject.toml's `[tool.setuptools.package-dir]` puts them
(`src/parcelflow`, `projections` as parcelflow.projections, `consumers` as
parcelflow.consumers), so a new folder mapped there is checked without a change here.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Where an import statement stands decides when it runs.
AT_IMPORT = "at import"  # module level (also inside try/if at module level): runs on import
IN_FUNCTION = "in a function"  # runs when the function is first called
FOR_TYPES = "for types"  # under `if TYPE_CHECKING:`: never runs, read by type checkers only


def package_dirs(repo: Path = REPO) -> dict[str, Path]:
    """Package name -> folder, from pyproject.toml."""
    config = tomllib.loads((repo / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    return {package: repo / folder for package, folder in mapping.items()}


def modules(roots: dict[str, Path]) -> dict[str, Path]:
    """Every module under the roots, by its dotted name (a package by its __init__.py)."""
    found: dict[str, Path] = {}
    for package, folder in roots.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    when: str  # AT_IMPORT, IN_FUNCTION or FOR_TYPES
    line: int


def _when(ancestors: list[ast.AST]) -> str:
    when = AT_IMPORT
    for node in ancestors:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return FOR_TYPES
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            when = IN_FUNCTION
    return when


def imports(known: dict[str, Path]) -> list[Import]:
    """Every import of one known module by another. `from a import b` imports `a.b` when
    that is a module, else `a`; `import a.b.c` imports `a.b.c` (the parent packages it
    also runs are not counted: Python has them in sys.modules before the child runs)."""
    found: list[Import] = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        stack: list[tuple[ast.AST, list[ast.AST]]] = [(ast.parse(path.read_text()), [])]
        while stack:
            node, ancestors = stack.pop()
            stack.extend((child, [*ancestors, node]) for child in ast.iter_child_nodes(node))
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the importer's package upwards
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                           for alias in node.names]
            for target in targets:
                while target and target not in known:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.append(Import(name, target, _when(ancestors), node.lineno))
    return found


def cycles(edges: Iterable[Import]) -> list[list[str]]:
    """The import cycles: each strongly connected group of two or more modules, sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set()).add(edge.imported)
        graph.setdefault(edge.imported, set())
    # Tarjan's algorithm, iteratively (no recursion limit on deep chains).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def third_party(known: dict[str, Path]) -> list[str]:
    """The modules outside the package that its modules import at module level."""
    names: set[str] = set()
    for path in known.values():
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: these run on every import anyway
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    prefixes = {name.split(".")[0] for name in known}
    return sorted(n for n in names if n.split(".")[0] not in prefixes and n != "__future__")


# Runs in a fresh interpreter: loads the third-party libraries once, checks that nothing of
# the package is loaded, then forks one child per module and imports that module first in
# it. A child is a fresh interpreter as far as the package is concerned (none of its modules
# is in sys.modules), which is what a partially initialised module or an import that
# needs another one to have run first would show; forking saves each child the ~0.3 s of
# loading pydantic, eventsourcing, FastAPI, Kafka and Rich again.
_SERVER = r"""
import importlib, json, os, sys, tempfile, traceback
wanted, preload, packages, jobs = json.loads(sys.stdin.read())
for name in preload:
    try:
        importlib.import_module(name)
    except Exception:
        pass  # the child that needs it reports the failure
loaded = sorted(m for m in sys.modules if m.split(".")[0] in packages)
if loaded:
    sys.exit(f"not fresh: {loaded} loaded before any module was imported")
out = tempfile.mkdtemp()
running, failures = {}, {}
def reap():
    pid, status = os.wait()
    name, report = running.pop(pid)
    text = open(report).read() if os.path.exists(report) else ""
    if status or text:
        failures[name] = text or f"the child exited with status {status}"
for number, name in enumerate(wanted):
    while len(running) >= jobs:
        reap()
    report = os.path.join(out, str(number))
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            with open(report, "w") as f:
                f.write(traceback.format_exc())
        os._exit(0)
    running[pid] = (name, report)
while running:
    reap()
print("\n" + json.dumps(failures))  # last: a module may print when imported
"""


def failing_alone(names: list[str], *, preload: list[str], path: list[str] | None = None,
                  jobs: int = 2) -> dict[str, str]:
    """Each module imported first in a fresh interpreter: {module: traceback} of those
    that fail. `path`: folders put first on sys.path (a tree not installed)."""
    packages = sorted({name.split(".")[0] for name in names})
    # -P: the working directory is not on sys.path (the repository's `consumers` and
    # `projections` folders would be importable under names of their own).
    done = subprocess.run(
        [sys.executable, "-P", "-c", f"import sys; sys.path[:0] = {path or []!r}\n{_SERVER}"],
        input=json.dumps([names, preload, packages, jobs]), capture_output=True, text=True,
        timeout=300, cwd=REPO,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the import check did not run: {done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])
