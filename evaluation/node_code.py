"""The controller's code a fleet node runs: ``--performance-mode`` (:mod:`.perfmode`).

Packed in memory as a zip the node imports from (``zipimport``), base64 for Ansible's
arguments. Only the files :data:`.perfmode.NODE_FILES` names, standard library only, with
empty ``__init__`` files for the packages on the way: nothing else of multiarc, nothing
downloaded on the node.
"""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

from .perfmode import NODE_FILES

PACKAGE = "multiarc/evaluation"
# a fixed time stamp: the same code gives the same archive
_STAMP = (2020, 1, 1, 0, 0, 0)


def perfmode_zip() -> bytes:
    """The zip: multiarc/evaluation/perfmode.py and what it imports."""
    here = Path(__file__).parent
    names = {"multiarc/__init__.py": b"", f"{PACKAGE}/__init__.py": b""}
    for relative in NODE_FILES:
        path = f"{PACKAGE}/{relative}"
        parent = path.rsplit("/", 1)[0]
        names.setdefault(f"{parent}/__init__.py", b"")
        names[path] = (here / relative).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(names):
            archive.writestr(zipfile.ZipInfo(name, _STAMP), names[name], zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def perfmode_data() -> str:
    """The zip as base64 (an Ansible module argument)."""
    return base64.b64encode(perfmode_zip()).decode()
