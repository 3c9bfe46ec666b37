"""Build the support archive: run the collectors, scrub, stream into tar + multithreaded xz/zstd.

Every result is written as soon as it is ready, so compression overlaps the slow tools.
With --redact the results are held until every collector has answered: the serial numbers
found anywhere (dmidecode, xpu-smi, lspci, sysfs) must be known before any file is written,
and member names are scrubbed too. All are scrubbed with one consistent token table.
Layout: ``multiarc-sysinfo-<host>-<timestamp>/``: summary.txt and manifest.json first, then
``<concern>/<file>`` (and ``<file>.stderr`` where a command wrote to stderr).

Files are written safely on a shared machine (safe_write.py): the archive is built under a
private name of this run (``.<name>.<pid>-<random>.partial``) and published under its final
name without ever replacing or following what is there.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multiarc.collect import bkc, interrupts
from multiarc.collect.collectors import all_collectors
from multiarc.collect.compress import SUFFIXES, StreamCompressor
from multiarc.collect.context import Context
from multiarc.collect.redact import Redactor, load_mapping
from multiarc.collect.runner import MAX_WORKERS, run_collectors
from multiarc.collect.safe_write import check_output_folder, publish, unique_name
from multiarc.collect.serials import serial_values
from multiarc.collect.spec import ItemResult, Status
from multiarc.collect.summary import SummaryFacts, dmesg_text, render_summary, status_counts

import multiarc
from multiarc.background import in_background
from multiarc.errors import InputError

COMPRESSORS = SUFFIXES  # --compression choices: name -> archive suffix
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BuildOptions:
    """What the user asked for (the command line), in one place."""

    output_dir: Path = Path(".")
    redact: bool = False
    compression: str = "xz"
    max_workers: int = MAX_WORKERS
    domains: tuple[str, ...] = ()  # --domain: every name in these domains is a host
    keywords: tuple[str, ...] = ()  # --keyword / --keyword-file
    host_names: tuple[str, ...] = ()  # --host-name: other names of hosts
    map_file: Path | None = None  # --map: the token table, read and updated


@dataclass
class ArchiveResult:
    path: Path
    sha256: str
    manifest: dict[str, Any]
    mapping_path: Path | None
    counts: dict[str, int]  # items per status: what summary.txt's "Collection:" line says


Progress = Callable[[str, ItemResult | None, int], None]  # event, result, total


def _entry(result: ItemResult, name: str | None, data: bytes | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name or result.name,
        "concern": result.concern,
        "kind": result.kind,
        "source": result.source,
        "status": str(result.status),
        "exit_code": result.exit_code,
        "duration_s": result.duration_s,
        "bytes": len(data) if data is not None else 0,
        "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
        "tool_version": result.tool_version,
        "needs_root": result.needs_root,
    }
    if result.reason:
        entry["reason"] = result.reason
    return entry


class _Writer:
    """Scrubs each result and adds it to the archive; keeps the manifest entries."""

    def __init__(self, redactor: Redactor, comp: StreamCompressor, top: str, mtime: float):
        self.redactor, self.comp, self.top, self.mtime = redactor, comp, top, mtime
        self.entries: list[dict[str, Any]] = []

    def write(self, result: ItemResult) -> None:
        members = list(result.files.items()) if result.kind == "tree" else []
        if result.kind != "tree" and (result.data or result.status != Status.SKIPPED):
            members.append((result.name, result.data))
        if not members:
            self.entries.append(_entry(result, self.redactor.name(result.name), None))
        for raw_name, data in members:
            name = self.redactor.name(raw_name)
            clean = self.redactor.data(data, name)
            self.comp.add(f"{self.top}/{name}", clean, self.mtime)
            self.entries.append(_entry(result, name, clean))
        if result.stderr:
            name = self.redactor.name(result.name) + ".stderr"
            err = self.redactor.data(result.stderr, name)
            self.comp.add(f"{self.top}/{name}", err, self.mtime)
            self.entries[-1]["stderr_bytes"] = len(err)
            self.entries[-1]["stderr_sha256"] = hashlib.sha256(err).hexdigest()


def _redactor(ctx: Context, options: BuildOptions) -> Redactor:
    mapping = load_mapping(options.map_file) if options.map_file else None
    return Redactor(ctx, options.redact, domains=options.domains, keywords=options.keywords,
                    hosts=options.host_names, mapping=mapping)


def _learn_serials(redactor: Redactor, results: list[ItemResult]) -> None:
    """Serial numbers labelled anywhere (dmidecode, xpu-smi, lspci -vvv, JSON): replaced
    wherever else they appear too, file names included."""
    found: set[str] = set()
    for result in results:
        for data in (result.data, *result.files.values()):
            if data:
                found |= serial_values(data.decode(errors="replace"))
    redactor.learn(found, "serial")


def _manifest(ctx: Context, options: BuildOptions, facts: dict[str, Any]) -> dict[str, Any]:
    since = facts["since"]
    return {
        "tool": "multiarc-collect-sysinfo",
        "version": multiarc.__version__,
        "created": facts["created"],
        "host": facts["host"],
        "ran_as_root": ctx.is_root,
        "redacted": options.redact,
        "compression": options.compression,
        "since_install": (
            None if not ctx.since_install else {
                "since": since.at.isoformat(timespec="seconds") if since else None,
                "source": since.source if since else "no install recorded in state.json",
            }
        ),
        "since": ctx.since,
        "duration_s": facts["duration_s"],
        "skipped": facts["skipped"],
        "needs_root": facts["needs_root"],
        "secrets_removed": facts["secrets_removed"],
        "files": sorted(facts["entries"], key=lambda e: e["name"]),
    }


def _collect(ctx: Context, options: BuildOptions, writer: _Writer,
             progress: Progress | None) -> list[ItemResult]:
    results: list[ItemResult] = []
    total = 0

    def on_start(n: int) -> None:
        nonlocal total
        total = n
        if progress:
            progress("start", None, n)

    running = contextlib.closing(
        run_collectors(all_collectors(ctx), ctx, options.max_workers, on_start))
    with running as results_in_order:  # an exception here stops every command at once
        for result in results_in_order:
            results.append(result)
            if progress:
                progress("done", result, total)
            if not options.redact:
                writer.write(result)
    if options.redact:  # every serial known before the first byte is written
        _learn_serials(writer.redactor, results)
        for result in results:
            writer.write(result)
    return results


def build_archive(options: BuildOptions, ctx: Context | None = None,
                  progress: Progress | None = None) -> ArchiveResult:
    """Collect everything into one archive in ``options.output_dir``; never stops on a
    failed item. An interrupt (Ctrl-C, SIGTERM) or an error leaves no file behind."""
    ctx = ctx or Context()
    if options.compression not in COMPRESSORS:
        raise InputError(f"unknown compression {options.compression!r}", "use xz or zstd")
    output_dir = check_output_folder(options.output_dir)
    if options.map_file is not None:
        check_map_folder(options.map_file)
    redactor = _redactor(ctx, options)
    real_host = socket.gethostname() or "localhost"
    host = redactor.token(real_host, "host") if options.redact else real_host
    host = _SAFE.sub("_", host).strip("<>_") or "host"
    now = datetime.now(UTC)
    top = f"multiarc-sysinfo-{host}-{now.strftime('%Y%m%d_%H%M%S')}"
    target = output_dir / (top + COMPRESSORS[options.compression])
    partial = output_dir / (unique_name("." + target.name) + ".partial")
    started = time.monotonic()
    comp: StreamCompressor | None = None
    try:
        comp = StreamCompressor(options.compression, partial)
        writer = _Writer(redactor, comp, top, now.timestamp())
        # the BKC table's dpkg query, read while the collection runs (not after it)
        stack = in_background(bkc.stack_versions, ctx)
        results = _collect(ctx, options, writer, progress)
        since = bkc.last_install(ctx) if ctx.since_install else None
        rows = bkc.bkc_rows(ctx, dmesg_text(results), stack.result())
        table = ItemResult("firmware/bkc_version.csv", "firmware", "generated",
                           "BKC version table (get_bkc_version.sh format)", Status.OK,
                           data=bkc.bkc_csv(rows).encode())
        results.append(table)
        writer.write(table)
        if progress:
            progress("compress", None, len(results))
        facts = SummaryFacts(real_host, now.isoformat(timespec="seconds"), options.redact,
                             rows, since)
        summary = redactor.data(render_summary(ctx, facts, results).encode(), "summary.txt")
        manifest = _manifest(ctx, options, {
            "created": now.isoformat(timespec="seconds"), "host": host, "since": since,
            "duration_s": round(time.monotonic() - started, 3),
            "skipped": {redactor.name(r.name): r.reason for r in results
                        if r.status == Status.SKIPPED},
            "needs_root": sorted(redactor.name(r.name) for r in results if r.needs_root),
            "secrets_removed": redactor.findings.as_list(),
            "entries": writer.entries,
        })
        manifest_bytes = redactor.data(json.dumps(manifest, indent=1).encode(), "manifest.json")
        # First in the archive, where a reader looks (and a quick look stops reading).
        comp.close(head=[(f"{top}/summary.txt", summary, writer.mtime),
                         (f"{top}/manifest.json", manifest_bytes, writer.mtime)])
        # the token table first: an archive whose tokens cannot be mapped back is no use
        mapping_path = _write_mapping(redactor, options, target, top)
        interrupts.done()  # past this point the archive is there: the run completes
        final = publish(partial, target)
    except BaseException:
        with interrupts.deferred():  # a second Ctrl-C cannot cut the clean-up short
            if comp is not None:
                comp.abort()
            for piece in output_dir.glob(glob.escape(partial.name) + "*"):  # this run's only
                piece.unlink(missing_ok=True)
        raise
    counts = {str(status): n for status, n in status_counts(results).items()}
    return ArchiveResult(final, _sha256(final), json.loads(manifest_bytes), mapping_path, counts)


def check_map_folder(path: Path) -> None:
    folder = path.absolute().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"--map {path}: cannot write into {folder}",
                         "give a map file in an existing folder you can write to")


def _write_mapping(redactor: Redactor, options: BuildOptions, archive: Path,
                   top: str) -> Path | None:
    if options.map_file is not None:
        return redactor.write_mapping(options.map_file, replace=True)
    if options.redact:
        return redactor.write_mapping(archive.with_name(top + ".redaction-map.json"))
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()
