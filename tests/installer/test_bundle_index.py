"""multiarc-install indexes the extracted bundle itself (the collection module's own
index_bundle), once per bundle content: a re-run reads the kept index, another content or
a damaged or planted cache file is indexed again, and the result is the module's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from multiarc.installer import bundle_index
from multiarc.installer.bundle import extract_bundle, verify_bundle


@pytest.fixture
def extracted(bundle_archive: Path, tmp_path: Path) -> Path:
    return Path(extract_bundle(verify_bundle(bundle_archive), tmp_path / "bundles").root)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real = bundle_index._run

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        return real(argv)

    monkeypatch.setattr(bundle_index, "_run", run)
    return calls


def test_the_index_is_the_modules_and_is_made_once(
    extracted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    first = bundle_index.bundle_index(extracted)
    debs = sorted(p.relative_to(extracted).as_posix() for p in extracted.rglob("*.deb"))
    listed = sorted(p["filename"] for ps in first["packages"].values() for p in ps)
    assert listed == debs and first["count"] == len(debs) == len(calls)
    assert first["index"].count("\nSHA256: ") == len(debs)
    assert all(p["spec"] == f"{p['name']}={p['version']}"
               for ps in first["packages"].values() for p in ps)  # fmt: skip
    again = bundle_index.bundle_index(extracted)
    assert again == first and len(calls) == len(debs)  # no dpkg-deb the second time


def _cache(extracted: Path) -> Path:
    return extracted / bundle_index.CACHE_NAME


@pytest.mark.parametrize("damage", ["other content", "garbage", "planted link"])
def test_a_cache_of_other_content_or_damaged_or_planted_is_not_used(
    damage: str, extracted: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = bundle_index.bundle_index(extracted)
    cache = _cache(extracted)
    if damage == "other content":
        data: dict[str, Any] = json.loads(cache.read_text())
        data["content_id"] = "0" * 64
        data["index"]["count"] = 999
        cache.write_text(json.dumps(data))
    elif damage == "garbage":
        cache.write_text("{not json")
    else:
        lure = tmp_path / "lure.json"
        lure.write_text(cache.read_text().replace('"count": ', '"count": 1000'))
        cache.unlink()
        cache.symlink_to(lure)
    calls = _counting(monkeypatch)
    assert bundle_index.bundle_index(extracted) == good and calls  # indexed again
    assert not cache.is_symlink() and json.loads(cache.read_text())["index"] == good
