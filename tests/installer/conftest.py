"""Bundle fixtures: the synthetic bundle (tests/fixtures/synthetic_bundle.py) built once per
session. The session trees and archives are shared: tests that change one take a copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures.synthetic_bundle import (
    build_bundle_archive,
    build_bundle_tree,
    fixture_cache_dir,
)


@pytest.fixture(scope="session")
def bundle_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pristine fixture tree (~1 MB). Do not modify it; use ``bundle_tree_copy``."""
    return build_bundle_tree(tmp_path_factory.mktemp("tree"), cache=fixture_cache_dir())


@pytest.fixture
def bundle_tree_copy(bundle_tree: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture tree that a test may change."""
    return Path(shutil.copytree(bundle_tree, tmp_path / bundle_tree.name, symlinks=True))


@pytest.fixture(scope="session")
def bundle_archive(bundle_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our format: the fixture tree plus manifest.json, as .tar.xz (read only)."""
    out = tmp_path_factory.mktemp("archive") / f"{bundle_tree.name}.tar.xz"
    return build_bundle_archive(bundle_tree, out, manifest=True)


@pytest.fixture(scope="session")
def intel_archive(bundle_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Intel's format: the same tree without a manifest (read only)."""
    out = tmp_path_factory.mktemp("intel") / f"{bundle_tree.name}.tar.xz"
    return build_bundle_archive(bundle_tree, out, manifest=False)
