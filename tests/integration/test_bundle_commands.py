"""``multiarc-install bundle create`` and ``bundle verify`` as a user runs them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.integration.sites import Harness, UserBundle, bundle_packages, explain, flat

pytestmark = pytest.mark.integration


def _run(harness: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*harness.command, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "TMPDIR": str(harness.tmp)},
    )


def test_create_writes_the_archive_its_manifest_and_checksum(
    user_bundle: UserBundle, bundle_tree: Path
) -> None:
    archive = user_bundle.archive
    packages = bundle_packages(bundle_tree)
    out = flat(user_bundle.create.stdout)
    assert f"wrote {archive} (bundle 2025.2.0-fixture)" in out
    assert f"{len(packages)} packages" in out
    sidecar = archive.with_name(archive.name + ".sha256")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert sidecar.read_text() == f"{digest}  {archive.name}\n"
    check = subprocess.run(
        ["sha256sum", "-c", sidecar.name], cwd=archive.parent, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest_member = next(n for n in names if n.endswith("manifest.json"))
        handle = tar.extractfile(manifest_member)
        assert handle is not None
        manifest = json.loads(handle.read())
    text = json.dumps(manifest)
    # every file of the tree is listed with its checksum, every package with its version
    for deb in bundle_tree.rglob("*.deb"):
        assert hashlib.sha256(deb.read_bytes()).hexdigest() in text, deb.name
    for name, (version, _) in packages.items():
        assert name in text and version in text


def test_verify_accepts_the_bundle(harness: Harness, user_bundle: UserBundle) -> None:
    done = _run(harness, "bundle", "verify", str(user_bundle.archive))
    assert done.returncode == 0, explain(done)
    out = flat(done.stdout)
    assert "verified: size and sha256 of every file match the manifest" in out
    assert "kernel 6.14.0-1006-intel" in out


def test_verify_names_the_tampered_file(
    harness: Harness, tampered_bundle: tuple[Path, str]
) -> None:
    archive, changed = tampered_bundle
    done = _run(harness, "bundle", "verify", str(archive))
    assert done.returncode == 2, explain(done)
    assert f"{changed}: sha256 differs" in flat(done.stderr + done.stdout)


def test_verify_refuses_a_traversal_entry(
    harness: Harness, traversal_bundle: tuple[Path, str]
) -> None:
    archive, escape = traversal_bundle
    done = _run(harness, "bundle", "verify", str(archive))
    assert done.returncode == 2, explain(done)
    said = flat(done.stderr + done.stdout)
    assert "unsafe member in traversal.tar.xz" in said and escape in said
