"""The collector as one self-contained file for fleet nodes (a Python zip application).

Nodes have no internet and need nothing beyond what Ansible needs (Python 3), so the
controller ships multiarc's collect package, the few shared modules it imports and click
(pure Python) in one ``.pyz`` that the node's own ``python3`` runs. Compiled extras stay
behind: psutil and pyudev are optional in the collectors, rich is only used on a terminal.
"""

from __future__ import annotations

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
# The shared modules collect imports (one place: checked by the test that runs the .pyz).
SHARED_MODULES = ("__init__.py", "errors.py", "paths.py", "devices.py")


def _package_files(folder: Path, arcname: str) -> list[tuple[Path, str]]:
    return [
        (path, f"{arcname}/{path.relative_to(folder).as_posix()}")
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def zipapp_members() -> list[tuple[Path, str]]:
    """(file on the controller, name in the .pyz) of everything the node needs."""
    top = Path(multiarc.__file__).parent
    members = [(top / name, f"multiarc/{name}") for name in SHARED_MODULES]
    members += _package_files(Path(multiarc.collect.__file__).parent, "multiarc/collect")
    members += _package_files(Path(click.__file__).parent, "click")
    return members


def build_zipapp(target: Path) -> Path:
    """Write the .pyz to ``target`` (a new file in a private folder of the caller)."""
    with zipfile.ZipFile(target, "x", compression=zipfile.ZIP_DEFLATED) as pyz:
        pyz.writestr("__main__.py", _MAIN)
        for path, name in zipapp_members():
            pyz.write(path, name)
    return target
