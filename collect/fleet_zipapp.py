"""The collector as one self-contained file for fleet nodes (a Python zip application).

Nodes have no internet and need nothing beyond what Ansible needs (Python 3), so the
controller ships multiarc's collect package, the few shared modules it imports and click
(pure Python) in one ``.pyz`` that the node's own ``python3`` runs. Compiled extras stay
behind: psutil and pyudev are optional in the collectors, rich is only used on a terminal.
"""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import click
import multiarc.collect

import multiarc

MIN_PYTHON = (3, 11)
_MAIN = f'''"""multiarc-collect-sysinfo, shipped to a fleet node by the controller."""
import sys

if sys.version_info < {MIN_PYTHON!r}:
    sys.stderr.write(
        "error: multiarc-collect-sysinfo needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer "
        "on the node (found %d.%d)\\n"
        "hint: point ansible_python_interpreter at a newer python3 for this host\\n"
        % sys.version_info[:2]
    )
    sys.exit(3)

from multiarc.collect.entry import main

main()
'''


def _imported_top_modules(source: Path, top: Path) -> set[str]:
    """Names of multiarc's own top-level modules (``multiarc/<name>.py``) that ``source``
    imports, lazily or not: ``import multiarc.x``, ``from multiarc.x import y``,
    ``from multiarc import x``. Subpackages (collect, installer...) are not modules here."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_bytes(), filename=str(source))):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            dotted = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in dotted:
            parts = name.split(".")
            if len(parts) >= 2 and parts[0] == "multiarc" and (top / f"{parts[1]}.py").is_file():
                found.add(parts[1])
    return found


def shared_modules(package: Path, top: Path) -> list[str]:
    """The file names in ``top`` (multiarc/) that ``package`` needs, followed through the
    shared modules' own imports, so that a new shared import can never be left behind."""
    needed: set[str] = set()
    pending = [path for path in package.rglob("*.py") if "__pycache__" not in path.parts]
    while pending:
        for name in _imported_top_modules(pending.pop(), top) - needed:
            needed.add(name)
            pending.append(top / f"{name}.py")
    return ["__init__.py", *sorted(f"{name}.py" for name in needed)]


def _package_files(folder: Path, arcname: str) -> list[tuple[Path, str]]:
    return [
        (path, f"{arcname}/{path.relative_to(folder).as_posix()}")
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def zipapp_members() -> list[tuple[Path, str]]:
    """(file on the controller, name in the .pyz) of everything the node needs."""
    top = Path(multiarc.__file__).parent
    package = Path(multiarc.collect.__file__).parent
    members = [(top / name, f"multiarc/{name}") for name in shared_modules(package, top)]
    members += _package_files(package, "multiarc/collect")
    members += _package_files(Path(click.__file__).parent, "click")
    return members


def build_zipapp(target: Path) -> Path:
    """Write the .pyz to ``target`` (a new file in a private folder of the caller)."""
    with zipfile.ZipFile(target, "x", compression=zipfile.ZIP_DEFLATED) as pyz:
        pyz.writestr("__main__.py", _MAIN)
        for path, name in zipapp_members():
            pyz.write(path, name)
    return target
