"""Every module of the package imports on its own, and no two modules import each other
(directly or round a longer loop).

What counts as an import for the cycle check: every import statement that runs — at
module level (including inside try/if there) and inside functions, since a function-level
import that closes a loop is the same trap sprung later (when the function is first
called, possibly half-way through another module's import). Not counted: imports under
`if TYPE_CHECKING:` (they never run, so they cannot leave a module half-initialised;
they are for the type checker, which resolves such loops) and the parent packages an
import also runs (Python registers a package before its children run).
"""

from __future__ import annotations

import os
import textwrap

from tests.support.imports import (
    AT_IMPORT,
    FOR_TYPES,
    IN_FUNCTION,
    cycles,
    failing_alone,
    imports,
    modules,
    package_dirs,
    third_party,
)

KNOWN = modules(package_dirs())
# `python -m parcelflow` runs the command line when imported: a script, not a module.
SCRIPTS = {name for name in KNOWN if name.endswith(".__main__")}


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    wanted = sorted(set(KNOWN) - SCRIPTS)
    assert {"parcelflow.entrypoints.exceptions_cli", "parcelflow.projections.base",
            "parcelflow.consumers.relay", "parcelflow.consumers.notifications.worker"
            } <= set(wanted)  # all three folders are read
    failures = failing_alone(wanted, preload=third_party(KNOWN), jobs=os.cpu_count() or 2)
    assert not failures, "\n\n".join(f"{name}:\n{trace}" for name, trace in failures.items())


def test_no_import_cycle_among_the_imports_that_run():
    running = [i for i in imports(KNOWN) if i.when != FOR_TYPES]
    assert {i.when for i in running} == {AT_IMPORT, IN_FUNCTION}  # both kinds are read
    found = cycles(running)
    assert not found, "\n".join(" -> ".join(group) for group in found) + "\n" + "\n".join(
        f"  {i.importer}:{i.line} imports {i.imported} ({i.when})" for i in running
        if any(i.importer in g and i.imported in g for g in found))


# The checks themselves, on a small tree with the trap the CLI had: `cli` imports its
# sub-command at its end and registers it, and the sub-command imports `cli` back; so
# importing the sub-command first makes `cli` register a sub-command not yet defined.

def _tree(tmp_path, files: dict[str, str]) -> dict:
    for name, source in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return modules({"pkg": tmp_path / "pkg"})


def test_the_checks_find_a_module_that_only_imports_after_another_and_its_cycle(tmp_path):
    known = _tree(tmp_path, {
        "__init__.py": "",
        "cli.py": "out = 1\nfrom pkg import sub\nsub.register()\n",
        "sub.py": "from pkg.cli import out\ndef register():\n    pass\n",
        "fine.py": "import json\nfrom . import leaf\n",
        "leaf.py": "def later():\n    from pkg import fine\n",
        "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import cli\n",
    })
    failures = failing_alone(sorted(known), preload=["json"], path=[str(tmp_path)])
    assert set(failures) == {"pkg.sub"}
    assert "partially initialized module 'pkg.sub'" in failures["pkg.sub"]
    edges = imports(known)
    assert {(i.importer, i.imported, i.when) for i in edges} == {
        ("pkg.cli", "pkg.sub", AT_IMPORT), ("pkg.sub", "pkg.cli", AT_IMPORT),
        ("pkg.fine", "pkg.leaf", AT_IMPORT), ("pkg.leaf", "pkg.fine", IN_FUNCTION),
        ("pkg.typed", "pkg.cli", FOR_TYPES)}
    assert cycles(edges) == [["pkg.cli", "pkg.sub"], ["pkg.fine", "pkg.leaf"]]
