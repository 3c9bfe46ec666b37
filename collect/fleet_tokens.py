"""One token table for a whole fleet: each node's archive renumbered to the shared tokens.

Every node redacts its own archive with what only it knows (its host names in context, its
users, its serial numbers) and returns its own token table (token -> real value). On the
controller the tables are merged by real value, so a host or an address seen on two nodes
gets one token, and each archive is rewritten with the fleet's tokens: member contents
(``<ip-3>``), member names and the manifest (``ip-3``, the form file names use), with the
manifest's sha256 of every member made anew. Rewritten archives are checked like any other
(``--inspect``) before they are published. This is sos collect's model: one map for all.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from multiarc.collect.archive_check import tar_stream
from multiarc.collect.compress import StreamCompressor
from multiarc.collect.safe_write import publish, unique_name

TOKEN_KINDS = ("host", "ip", "mac", "user", "serial", "keyword")
_TOKEN = re.compile(r"<([a-z]+)-(\d+)>")
_BRACKETED = re.compile(rb"<(?:" + "|".join(TOKEN_KINDS).encode() + rb")-\d+>")
# in member names the brackets are dropped: "multiarc-sysinfo-host-1-20250101_120000"
_BARE = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(TOKEN_KINDS) + r")-\d+(?!\d)")
MEMBER_LIMIT = 256 * 2**20  # no collected file is this big: a node sending one is refused
TOTAL_LIMIT = 2 * 2**30


class ArchiveRefused(ValueError):
    """A node's archive that is not what the collector makes."""


class FleetMap:
    """value -> token for the whole fleet; grows as node tables are merged."""

    def __init__(self, mapping: dict[str, str] | None = None) -> None:
        self._tokens: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        for token, value in (mapping or {}).items():
            match = _TOKEN.fullmatch(token)
            if match:
                self._tokens[value] = token
                kind, number = match.group(1), int(match.group(2))
                self._counts[kind] = max(self._counts.get(kind, 0), number)

    def token(self, value: str, kind: str) -> str:
        found = self._tokens.get(value)
        if found is None:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            found = self._tokens[value] = f"<{kind}-{self._counts[kind]}>"
        return found

    def translation(self, node_map: dict[str, str]) -> dict[str, str]:
        """A node's token -> the fleet's token for the same value (in the node's order)."""
        def order(token: str) -> tuple[str, int]:
            match = _TOKEN.fullmatch(token)
            return (match.group(1), int(match.group(2))) if match else ("", 0)

        out = {}
        for token in sorted(node_map, key=order):
            match = _TOKEN.fullmatch(token)
            if match and match.group(1) in TOKEN_KINDS:
                out[token] = self.token(node_map[token], match.group(1))
        return out

    def mapping(self) -> dict[str, str]:
        """token -> value, the file format of ``--map``."""
        return {tok: value for value, tok in sorted(self._tokens.items(), key=lambda i: i[1])}


class Renumber:
    """Applies one node's translation to contents (bracketed) and names (bare)."""

    def __init__(self, translation: dict[str, str]) -> None:
        self._bytes = {k.encode(): v.encode() for k, v in translation.items()}
        self._bare = {k.strip("<>"): v.strip("<>") for k, v in translation.items()}

    def data(self, data: bytes) -> bytes:
        if b"<" not in data:
            return data
        return _BRACKETED.sub(lambda m: self._bytes.get(m.group(0), m.group(0)), data)

    def name(self, name: str) -> str:
        return _BARE.sub(lambda m: self._bare.get(m.group(0), m.group(0)), name)

    def json_value(self, value: Any) -> Any:
        """Every string of the manifest, keys too (names and reasons alike)."""
        if isinstance(value, str):
            return self.name(self.data(value.encode()).decode())
        if isinstance(value, list):
            return [self.json_value(v) for v in value]
        if isinstance(value, dict):
            return {self.json_value(k): self.json_value(v) for k, v in value.items()}
        return value


def _members(path: Path) -> list[tuple[str, bytes, float]]:
    """Every file member (name, data, mtime), refusing anything the collector never makes."""
    found: list[tuple[str, bytes, float]] = []
    total = 0
    with tar_stream(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts or not member.isfile():
                raise ArchiveRefused(f"member {member.name!r} is not a plain file of the archive")
            total += member.size
            if member.size > MEMBER_LIMIT or total > TOTAL_LIMIT:
                raise ArchiveRefused(f"member {member.name!r} is too large ({member.size} bytes)")
            fh = tar.extractfile(member)
            found.append((member.name, fh.read() if fh else b"", float(member.mtime)))
    return found


def _manifest(manifest: dict[str, Any], digests: dict[str, bytes], fix: Renumber) -> bytes:
    renamed = fix.json_value(manifest)
    for entry in renamed.get("files") or []:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name"))
        for key, member in (("", name), ("stderr_", name + ".stderr")):
            if member in digests and entry.get(key + "sha256") is not None:
                entry[key + "sha256"] = hashlib.sha256(digests[member]).hexdigest()
                entry[key + "bytes"] = len(digests[member])
    return json.dumps(renamed, indent=2).encode()


def rewrite_archive(source: Path, folder: Path, translation: dict[str, str],
                    kind: str) -> Path:
    """``source`` with the fleet's tokens, published in ``folder`` under its renamed name;
    the source stays as it was. ArchiveRefused when it is not a collector's archive."""
    fix = Renumber(translation)
    members = _members(source)
    if len(members) < 2 or not members[1][0].endswith("/manifest.json"):
        raise ArchiveRefused("summary.txt and manifest.json are not the first members")
    head, rest = members[:2], members[2:]
    renamed = [(fix.name(n.split("/", 1)[-1]), fix.data(d), m) for n, d, m in rest]
    digests = {name: data for name, data, _mtime in renamed}
    try:
        manifest = json.loads(head[1][1])
    except ValueError as err:
        raise ArchiveRefused(f"manifest.json unreadable: {err}") from None
    if not isinstance(manifest, dict):
        raise ArchiveRefused("manifest.json is not an object")
    top = fix.name(head[0][0].split("/", 1)[0])
    suffix = source.name[source.name.index(".tar"):] if ".tar" in source.name else ".tar.xz"
    target = folder / (top + suffix)
    partial = folder / (unique_name("." + target.name) + ".partial")
    comp = StreamCompressor(kind, partial)
    try:
        for name, data, mtime in renamed:
            comp.add(f"{top}/{name}", data, mtime)
        comp.close(head=[(f"{top}/summary.txt", fix.data(head[0][1]), head[0][2]),
                         (f"{top}/manifest.json", _manifest(manifest, digests, fix), head[1][2])])
        return publish(partial, target)
    except BaseException:
        comp.abort()
        for piece in folder.glob(glob.escape(partial.name) + "*"):
            piece.unlink(missing_ok=True)
        raise

