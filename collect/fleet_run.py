"""``multiarc-collect-sysinfo --inventory``: one support archive per host, like sos collect.

Every host makes its archive in parallel (``--forks``) through the collection's
``collect.yml``: the controller ships the collector as one ``.pyz`` (fleet_zipapp.py), the
node's python3 runs it in a private folder with the same options, and the archive comes
back (with the node's token table under ``--redact``); nothing stays on the node. The
controller checks each archive's sha256 against the one the node printed and every
member against its manifest, then (``--redact``) renumbers it to one fleet-wide token table
(fleet_tokens.py), so a host or address seen on two nodes has one token. The archives land
in ``<output>/multiarc-sysinfo-fleet-<UTC>/hosts/<host>/`` with ``index.json`` and
``index.txt`` (fleet_index.py); unreachable and failed hosts are listed with the reason.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multiarc.collect.archive import BuildOptions
from multiarc.collect.archive_check import read_archive
from multiarc.collect.fleet_index import HostArchive, write_index
from multiarc.collect.fleet_tokens import ArchiveRefused, FleetMap, rewrite_archive
from multiarc.collect.redact import load_mapping
from multiarc.collect.safe_write import check_output_folder, publish, write_private
from multiarc.collection import COLLECTION_ROOT

from multiarc import fleet
from multiarc.errors import InputError, MultiarcError

PLAYBOOK = COLLECTION_ROOT / "playbooks" / "collect.yml"
ABORT_PLAYBOOK = COLLECTION_ROOT / "playbooks" / "collect_abort.yml"
NODE_TIMEOUT_S = 1800  # the node's whole collection (xpu-smi diag alone may take 300 s)
COLLECT_TASK = "Make the support archive"
ARCHIVE_NAME = re.compile(r"multiarc-sysinfo-[A-Za-z0-9_.-]{1,200}\.tar\.(?:xz|zst)")
NODE_MAP_LIMIT = 64 * 2**20


@dataclass
class FleetCollectOptions:
    """What ``--inventory`` was asked for, and the collector's own options for each node."""

    inventory: Path
    build: BuildOptions
    limit: str | None = None
    forks: int = 5
    since_install: bool = False
    since: str | None = None
    timeout_cap: float | None = None
    say: Callable[[str], None] = field(default=lambda _line: None)  # progress, one line


@dataclass
class FleetCollectResult:
    folder: Path
    exit_code: int  # 0 every archive is here, 1 some are missing, 130 Ctrl-C


def node_arguments(opts: FleetCollectOptions, hosts: list[fleet.FleetHost]) -> list[str]:
    """The collector's options on every node (the same as the controller was given)."""
    b = opts.build
    args = ["--compression", b.compression, "--jobs", str(b.max_workers)]
    if opts.since_install:
        args.append("--since-install")
    if opts.since:
        args += ["--since", opts.since]
    if opts.timeout_cap is not None:
        args += ["--timeout", str(opts.timeout_cap)]
    if b.redact:
        args.append("--redact")
        for domain in b.domains:
            args += ["--domain", domain]
        for word in b.keywords:
            args += ["--keyword", word]
        for name in sorted(set(b.host_names) | _host_names(hosts)):
            args += ["--host-name", name]
    return args


def _host_names(hosts: list[fleet.FleetHost]) -> set[str]:
    """Every inventory name and address that is a name: a node that mentions another
    node (/etc/hosts, a log line) replaces it by the same token."""
    names = set()
    for host in hosts:
        for name in (host.name, host.address):
            try:
                ipaddress.ip_address(name)
            except ValueError:
                names.add(name)
    return names


class _Seen:
    """What each node printed when its archive was made (path and sha256)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.printed: dict[str, tuple[str, str]] = {}

    def __call__(self, host: str, data: dict[str, Any], result: dict[str, Any]) -> None:
        if data.get("task") != COLLECT_TASK:
            return
        lines = str(result.get("stdout") or "").strip().splitlines()
        path, _, digest = (lines[-1] if lines else "").rpartition("  sha256:")
        self.printed[host] = (path, digest)
        counts = str(result.get("stderr") or "").strip().splitlines()
        self.say(f"{host}: archive made ({counts[-1].split(';')[0] if counts else 'no counts'})")


def run_fleet_collect(opts: FleetCollectOptions) -> FleetCollectResult:
    """The whole run: 0 every host's archive is here, 1 some are missing (index.json says
    why), 130 Ctrl-C (what came back is kept)."""
    hosts = fleet.read_inventory(opts.inventory, opts.limit)
    build = opts.build
    fleet_map = FleetMap(load_mapping(build.map_file) if build.map_file else None)
    output = check_output_folder(build.output_dir)
    folder = _new_folder(output)
    fetch_dir = folder / ".fetch"
    fetch_dir.mkdir(mode=0o700)
    opts.say(f"collecting from {len(hosts)} host(s) into {folder} (forks {opts.forks})")
    seen = _Seen(opts.say)
    events = fleet.HostEvents(opts.say, seen)
    run_id = secrets.token_hex(6)
    extravars = {
        "multiarc_run_id": run_id,
        "multiarc_collect_args": node_arguments(opts, hosts),
        "multiarc_collect_redact": build.redact,
        "multiarc_collect_timeout_s": NODE_TIMEOUT_S,
        "multiarc_fetch_dir": str(fetch_dir),
        "multiarc_fetch_names": fleet.folder_names(h.name for h in hosts),
    }
    run = fleet.PlaybookRun(
        PLAYBOOK, opts.inventory, [h.name for h in hosts], opts.forks, extravars, _ship_collector
    )
    try:
        status = fleet.run_playbook(run, events)
        interrupted = status == "canceled" or events.cancel
        if interrupted:
            _abort(opts, hosts, run_id)
        names = extravars["multiarc_fetch_names"]
        archives = [_take(opts, (h.name, names[h.name]), folder, seen, events, fleet_map)
                    for h in hosts]  # fmt: skip
    finally:
        shutil.rmtree(fetch_dir, ignore_errors=True)  # node token tables never stay
    if interrupted:
        for entry in archives:
            if entry.status != "collected":
                entry.status, entry.reason = "interrupted", "Ctrl-C before its archive came back"
    map_path = _write_map(fleet_map, build, folder) if build.redact else None
    write_index(folder, archives, redacted=build.redact, interrupted=interrupted)
    for entry in archives:
        opts.say(entry.line())
    if map_path is not None:
        opts.say(f"redaction table (keep it, do not send it): {map_path}")
    if interrupted:
        return FleetCollectResult(folder, 130)
    return FleetCollectResult(folder, 0 if all(a.status == "collected" for a in archives) else 1)


def _abort(opts: FleetCollectOptions, hosts: list[fleet.FleetHost], run_id: str) -> None:
    """Stop what still runs on the nodes and remove this run's folders there."""
    opts.say("interrupted: stopping the collectors and removing their folders on the nodes")
    events = fleet.HostEvents(lambda line: opts.say(f"clean-up: {line}"))
    run = fleet.PlaybookRun(
        ABORT_PLAYBOOK,
        opts.inventory,
        [h.name for h in hosts],
        opts.forks,
        {"multiarc_run_id": run_id},
    )
    fleet.run_playbook(run, events)  # a second Ctrl-C stops this too


def _ship_collector(private: Path) -> dict[str, Any]:
    from multiarc.collect.fleet_zipapp import build_zipapp

    return {"multiarc_collect_pyz": str(build_zipapp(private / "multiarc-collect.pyz"))}


def _new_folder(output: Path) -> Path:
    stem = f"multiarc-sysinfo-fleet-{datetime.now(UTC).strftime('%Y%m%d_%H%M%S')}"
    for n in range(1, 100):
        folder = output / (stem if n == 1 else f"{stem}-{n}")
        try:
            folder.mkdir(mode=0o700)
            return folder
        except FileExistsError:
            continue
    raise InputError(f"every fleet folder name is taken in {output}", "choose another --output")


def _take(
    opts: FleetCollectOptions,
    host_and_name: tuple[str, str],
    folder: Path,
    seen: _Seen,
    events: fleet.HostEvents,
    fleet_map: FleetMap,
) -> HostArchive:
    """One host's archive checked and published under hosts/<name>/ (or why not): the
    host's folder name, its token's with --redact."""
    host, name = host_and_name
    label = fleet_map.token(host, "host").strip("<>") if opts.build.redact else host
    entry = HostArchive(label, None if opts.build.redact else host)
    fetched = folder / ".fetch" / name / "archive"
    if host not in seen.printed or not fetched.is_file():
        entry.status, entry.reason = events.reasons.get(host, ("failed", "no archive came back"))
        return entry
    printed_path, printed_sha = seen.printed[host]
    try:
        archive_name = Path(printed_path).name
        if not ARCHIVE_NAME.fullmatch(archive_name):
            raise ArchiveRefused(f"the node named its archive {archive_name[:80]!r}")
        actual = _sha256(fetched)
        if actual != printed_sha:
            raise ArchiveRefused(
                f"sha256 of the fetched archive is {actual[:12]}..., the node "
                f"printed {printed_sha[:12]}..."
            )
        check = read_archive(fetched, verify=True)
        if check.problems:
            raise ArchiveRefused(f"damaged: {check.problems[0]}")
        target = folder / "hosts" / (fleet.folder_name(label) if opts.build.redact else name)
        target.mkdir(parents=True, mode=0o700)
        kind = "zstd" if archive_name.endswith(".zst") else "xz"
        if opts.build.redact:
            node_map = _node_map(folder / ".fetch" / name / "node-map.json")
            final = rewrite_archive(fetched, target, fleet_map.translation(node_map), kind)
            check = read_archive(final, verify=True)  # the rewrite is checked like any other
            if check.problems:
                raise ArchiveRefused(f"renumbered archive damaged: {check.problems[0]}")
        else:
            final = publish(fetched, target / archive_name)
        entry.collected(final.relative_to(folder), _sha256(final), actual, check.manifest)
    except (ArchiveRefused, MultiarcError, OSError, ValueError) as err:
        entry.status, entry.reason = "failed", f"archive refused: {err}"
    return entry


def _node_map(path: Path) -> dict[str, str]:
    try:
        if path.stat().st_size > NODE_MAP_LIMIT:
            raise ArchiveRefused("the node's token table is too large")
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ArchiveRefused(f"the node's token table is unreadable ({err})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ArchiveRefused("the node's token table is not a token map")
    return data


def _write_map(fleet_map: FleetMap, build: BuildOptions, folder: Path) -> Path:
    data = (json.dumps(fleet_map.mapping(), indent=2) + "\n").encode()
    if build.map_file is not None:
        return write_private(build.map_file, data, replace=True)
    return write_private(folder.with_name(folder.name + ".redaction-map.json"), data)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()
