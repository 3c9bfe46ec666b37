"""The bundle's package index, made by multiarc-install itself before the playbook.

The collection's ``multiarc_bundle_index`` module is the one place of the rules (the
Packages stanzas, each package's spec, where each firmware blob goes); this file loads its
``index_bundle`` and runs it in this process, instead of one more module run on the
controller in the playbook. The result is kept beside the extracted bundle
(``.multiarc-index.json``, tied to the extraction's content id), so that a re-run of the
same bundle does not run dpkg-deb on every package again.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

from multiarc.collection import COLLECTION_ROOT
from multiarc.installer.bundle_manifest import EXTRACTED_MARKER

from multiarc import yaml_files
from multiarc.errors import EnvironmentNotReady, InputError

INDEX_MODULE = COLLECTION_ROOT / "plugins" / "modules" / "multiarc_bundle_index.py"
# the folders the local_repo role serves: its defaults are the one place of that list
COMPONENTS_FILE = COLLECTION_ROOT / "roles" / "local_repo" / "defaults" / "main.yml"
CACHE_NAME = ".multiarc-index.json"
CACHE_FORMAT = 1


def index_module() -> ModuleType:
    """The collection's index module, loaded from its file (no Ansible needed to call it)."""
    spec = importlib.util.spec_from_file_location("multiarc_bundle_index", INDEX_MODULE)
    if spec is None or spec.loader is None:
        raise EnvironmentNotReady(
            f"{INDEX_MODULE} cannot be loaded", "reinstall multiarc (the collection is missing)"
        )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def components() -> list[str]:
    data = yaml_files.load_file(COMPONENTS_FILE)
    return [str(c) for c in data["local_repo_components"]]


def _run(argv: list[str]) -> tuple[int, str, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace")
    except OSError as err:
        return 127, "", str(err)
    return done.returncode, done.stdout, done.stderr


def _content_id(root: Path) -> str | None:
    try:
        marker = json.loads((root / EXTRACTED_MARKER).read_text())
    except (OSError, ValueError):
        return None
    value = marker.get("content_id") if isinstance(marker, dict) else None
    return str(value) if value else None


def _cached(path: Path, content_id: str, wanted: list[str]) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return None
    if data.get("content_id") != content_id or data.get("components") != wanted:
        return None
    index = data.get("index")
    return index if isinstance(index, dict) else None


def _keep(path: Path, content_id: str, wanted: list[str], index: dict[str, Any]) -> None:
    """Best effort (a read-only tree is indexed again next time); atomic, never a link."""
    tmp = path.with_name(f"{CACHE_NAME}.{os.getpid()}")
    record = {"format": CACHE_FORMAT, "content_id": content_id, "components": wanted,
              "index": index}  # fmt: skip
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def bundle_index(root: Path) -> dict[str, Any]:
    """{index, packages, firmware, count} of the extracted bundle at ``root``."""
    wanted = components()
    content_id = _content_id(root)
    cache = root / CACHE_NAME
    if content_id is not None and (found := _cached(cache, content_id, wanted)) is not None:
        return found
    module = index_module()
    try:
        index: dict[str, Any] = module.index_bundle(str(root), wanted, _run)
    except module.BundleIndexError as err:
        raise InputError(f"the bundle cannot be indexed: {err}", "get the bundle again") from None
    if content_id is not None:
        _keep(cache, content_id, wanted, index)
    return index
