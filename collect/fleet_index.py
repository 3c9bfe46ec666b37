"""The index of a fleet collection: which host's archive is where, checked how, or why not.

``index.json`` (for tools) and ``index.txt`` (for people) sit next to ``hosts/``. Under
``--redact`` hosts are listed by their fleet token only (the inventory names are in the
token table, which stays outside the folder).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multiarc.collect.safe_write import write_private

import multiarc

INDEX_JSON = "index.json"
INDEX_TEXT = "index.txt"


@dataclass
class HostArchive:
    host: str  # the inventory name, or its token under --redact
    inventory_host: str | None  # None under --redact
    status: str = "collected"  # collected, unreachable, failed, interrupted
    reason: str = ""
    archive: str | None = None  # relative to the fleet folder
    sha256: str | None = None  # of the archive as published here
    node_sha256: str | None = None  # what the node printed, checked on arrival
    bytes: int = 0
    items: dict[str, int] = field(default_factory=dict)  # collected items per status
    secrets_removed: int = 0

    def collected(self, archive: Path, sha256: str, node_sha256: str,
                  manifest: dict[str, Any]) -> None:
        self.archive, self.sha256, self.node_sha256 = str(archive), sha256, node_sha256
        self.items = dict(Counter(str(f.get("status")) for f in manifest.get("files") or []
                                  if isinstance(f, dict)))
        self.secrets_removed = sum(int(f.get("count", 0)) for f in
                                   manifest.get("secrets_removed") or [] if isinstance(f, dict))

    def line(self) -> str:
        if self.status != "collected":
            return f"{self.host}: {self.status}: {self.reason}"
        items = ", ".join(f"{n} {s}" for s, n in sorted(self.items.items()))
        return (f"{self.host}: {self.archive} ({self.bytes} bytes; {items}; "
                f"{self.secrets_removed} secret(s) removed)")


def write_index(folder: Path, archives: list[HostArchive], *, redacted: bool,
                interrupted: bool) -> None:
    for entry in archives:
        if entry.archive:
            entry.bytes = (folder / entry.archive).stat().st_size
    data = {
        "tool": "multiarc-collect-sysinfo",
        "version": multiarc.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "redacted": redacted,
        "interrupted": interrupted,
        "collected": sum(a.status == "collected" for a in archives),
        "hosts": [asdict(a) for a in archives],
    }
    write_private(folder / INDEX_JSON, (json.dumps(data, indent=2) + "\n").encode())
    write_private(folder / INDEX_TEXT, _text(data).encode())


def _text(data: dict[str, Any]) -> str:
    rows = [("host", "status", "archive / reason", "sha256")]
    for h in data["hosts"]:
        what = h["archive"] if h["status"] == "collected" else h["reason"]
        rows.append((h["host"], h["status"], what or "", (h["sha256"] or "")[:16]))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [
        f"multiarc-collect-sysinfo fleet collection, {data['created']}: "
        f"{data['collected']} of {len(data['hosts'])} host(s) collected"
        + (" (interrupted)" if data["interrupted"] else "")
        + (", redacted" if data["redacted"] else ""),
        "sha256 of each archive as it is here (checked against the node's on arrival, and "
        "every member against its manifest.json)",
        "",
    ]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
                     + "  " + row[3])
    return "\n".join(lines).rstrip() + "\n"
