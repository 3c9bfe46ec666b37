"""Build the support archive: run the collectors, scrub, stream into tar + multithreaded xz/zstd.

Every result is written as soon as it is ready, so compression overlaps the slow tools.
With --redact the results are first held until dmidecode has answered (its serial numbers
must be known before any file is written); all are scrubbed with one consistent token table.
Layout: ``multiarc-sysinfo-<host>-<timestamp>/``: summary.txt and manifest.json first, then
``<concern>/<file>`` (and ``<file>.stderr`` where a command wrote to stderr).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import lzma
import re
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from multiarc.collect import bkc, probes
from multiarc.collect.collectors import build_collectors, last_results_collector
from multiarc.collect.compress import SUFFIXES, StreamCompressor
from multiarc.collect.context import Context
from multiarc.collect.redact import Redactor, dmi_identifiers
from multiarc.collect.runner import MAX_WORKERS, run_collectors
from multiarc.collect.spec import ItemResult, Status

import multiarc
from multiarc.errors import EnvironmentNotReady, InputError

COMPRESSORS = SUFFIXES  # --compression choices: name -> archive suffix
DMIDECODE = "firmware/dmidecode.txt"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ArchiveResult:
    path: Path
    sha256: str
    manifest: dict[str, Any]
    mapping_path: Path | None


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


def _dmesg_text(results: list[ItemResult]) -> str | None:
    """The kernel log as collected (plus the firmware lines of the whole log when dmesg.txt
    is limited by --since-install); None when it could not be read."""
    texts = [
        r.data.decode(errors="replace")
        for r in results
        if r.name in ("kernel/dmesg.txt", "kernel/dmesg-firmware-lines.txt")
        and r.status == Status.OK
    ]
    return "".join(texts) if texts else None


_SYCL_GPU = re.compile(r"^\[level_zero:gpu\]", re.MULTILINE)
_XPU_SMI_DEVICE = re.compile(r"^\|\s*\d+\s*\|\s*Device Name:", re.MULTILINE)


def _tool_gpu_counts(results: list[ItemResult]) -> str:
    """Level Zero GPUs in sycl-ls and devices in xpu-smi discovery, as collected."""
    found = {r.name: r for r in results}
    parts = []
    for name, label, pattern in (
        ("gpu/sycl-ls.txt", "sycl-ls level_zero", _SYCL_GPU),
        ("gpu/xpu-smi-discovery.txt", "xpu-smi discovery", _XPU_SMI_DEVICE),
    ):
        r = found.get(name)
        if r is None or r.status != Status.OK:
            parts.append(f"{label} n/a ({r.status if r else 'not run'})")
        else:
            parts.append(f"{label} {len(pattern.findall(r.data.decode(errors='replace')))}")
    return ", ".join(parts)


def _since_note(ctx: Context, since: bkc.InstallTime | None) -> str | None:
    if not ctx.since_install:
        return None
    if since is None:
        return "--since-install: no install recorded in state.json, so the logs are complete"
    return (
        f"Logs since {since.at.isoformat(timespec='seconds')} ({since.source}): dmesg, "
        "journal and install logs"
    )


def _summary(
    ctx: Context,
    host: str,
    created: str,
    results: list[ItemResult],
    redact: bool,
    rows: list[tuple[str, str]],
    since: bkc.InstallTime | None,
) -> str:
    gpus = probes.intel_gpus(ctx.root)
    bound = sum(1 for g in gpus if g.driver == "xe")
    last = bkc.last_evaluation(ctx)
    lines = [
        f"multiarc support archive of {host}, made {created} by multiarc-collect-sysinfo "
        f"{multiarc.__version__}",
        f"Ran as root: {'yes' if ctx.is_root else 'no'}   Redacted: {'yes' if redact else 'no'}"
        "   (proxy credentials are always removed)",
        f"Kernel: {probes.kernel_release(ctx.root) or 'unknown'}",
        f"GPUs: {len(gpus)} supported Intel GPU(s) on the PCI bus, {bound} bound to xe"
        + (
            ": " + ", ".join(f"{g.bdf} {g.pci_id} {g.driver or 'no driver'}" for g in gpus)
            if gpus
            else ""
        ),
        "GPUs seen by the tools: " + _tool_gpu_counts(results),
        "Last evaluation: "
        + (f"{last.verdict} ({last.detail}) in {last.folder}" if last else "none found"),
    ]
    note = _since_note(ctx, since)
    lines += [note] if note else []
    lines += ["", "BKC versions (also firmware/bkc_version.csv)"]
    width = max(len(c) for c, _ in rows)
    lines += [f"  {c:<{width}}  {v}" for c, v in rows]
    counts = {s: sum(1 for r in results if r.status == s) for s in Status}
    lines += ["", "Collection: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    problems = [r for r in results if r.status != Status.OK]
    for r in sorted(problems, key=lambda r: (str(r.status), r.name)):
        lines.append(f"  {r.status!s:<8} {r.name}: {r.reason}")
    if not ctx.is_root:
        needs = sorted(r.name for r in results if r.needs_root)
        lines += [
            "",
            "Not run as root; these need root to be complete: " + ", ".join(needs),
            "  (run: sudo multiarc-collect-sysinfo)",
        ]
    return "\n".join(lines) + "\n"


def build_archive(
    output_dir: Path,
    ctx: Context | None = None,
    redact: bool = False,
    compression: str = "xz",
    progress: Progress | None = None,
    max_workers: int = MAX_WORKERS,
) -> ArchiveResult:
    """Collect everything into one archive in ``output_dir``; never stops on a failed item."""
    ctx = ctx or Context()
    if compression not in COMPRESSORS:
        raise InputError(f"unknown compression {compression!r}", "use xz or zstd")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the output folder {output_dir}: {exc.strerror}",
            "choose a writable folder with --output",
        ) from exc
    redactor = Redactor(ctx, full=redact)
    real_host = socket.gethostname() or "localhost"
    host = redactor.token(real_host, "host") if redact else real_host
    host = _SAFE.sub("_", host).strip("<>_") or "host"
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%d_%H%M%S")
    top = f"multiarc-sysinfo-{host}-{stamp}"
    target = output_dir / (top + COMPRESSORS[compression])
    partial = target.with_name(target.name + ".partial")
    collectors = build_collectors(ctx)
    extra = last_results_collector(ctx)
    if extra:
        collectors.append(extra)

    started = time.monotonic()
    entries: list[dict[str, Any]] = []
    results: list[ItemResult] = []
    comp = StreamCompressor(compression, partial)
    mtime = now.timestamp()

    def write(result: ItemResult) -> None:
        members = list(result.files.items()) if result.kind == "tree" else []
        if result.kind != "tree" and (result.data or result.status != Status.SKIPPED):
            members.append((result.name, result.data))
        if not members:
            entries.append(_entry(result, None, None))
        for name, data in members:
            clean = redactor.data(data)
            comp.add(f"{top}/{name}", clean, mtime)
            entries.append(_entry(result, name, clean))
        if result.stderr:
            err = redactor.data(result.stderr)
            comp.add(f"{top}/{result.name}.stderr", err, mtime)
            entries[-1]["stderr_bytes"] = len(err)
            entries[-1]["stderr_sha256"] = hashlib.sha256(err).hexdigest()

    try:
        total = 0

        def on_start(n: int) -> None:
            nonlocal total
            total = n
            if progress:
                progress("start", None, n)

        held: list[ItemResult] | None = [] if redact else None  # until dmidecode is in

        running = contextlib.closing(run_collectors(collectors, ctx, max_workers, on_start))
        with running as results_in_order:  # an exception here stops every command at once
            for result in results_in_order:
                results.append(result)
                if progress:
                    progress("done", result, total)
                if held is None:
                    write(result)
                    continue
                held.append(result)
                if result.name == DMIDECODE:
                    redactor.learn(dmi_identifiers(result.data.decode(errors="replace")), "serial")
                    for waiting in held:
                        write(waiting)
                    held = None
        for waiting in held or ():  # no dmidecode item ran
            write(waiting)
        since = bkc.last_install(ctx) if ctx.since_install else None
        rows = bkc.bkc_rows(ctx, _dmesg_text(results))
        table = ItemResult(
            "firmware/bkc_version.csv",
            "firmware",
            "generated",
            "BKC version table (get_bkc_version.sh format)",
            Status.OK,
            data=bkc.bkc_csv(rows).encode(),
        )
        results.append(table)
        write(table)
        if progress:
            progress("compress", None, total)
        summary = redactor.data(
            _summary(
                ctx, real_host, now.isoformat(timespec="seconds"), results, redact, rows, since
            ).encode()
        )
        manifest = {
            "tool": "multiarc-collect-sysinfo",
            "version": multiarc.__version__,
            "created": now.isoformat(timespec="seconds"),
            "host": host,
            "ran_as_root": ctx.is_root,
            "redacted": redact,
            "compression": compression,
            "since_install": (
                None
                if not ctx.since_install
                else {
                    "since": since.at.isoformat(timespec="seconds") if since else None,
                    "source": since.source if since else "no install recorded in state.json",
                }
            ),
            "duration_s": round(time.monotonic() - started, 3),
            "skipped": {r.name: r.reason for r in results if r.status == Status.SKIPPED},
            "needs_root": sorted(r.name for r in results if r.needs_root),
            "files": sorted(entries, key=lambda e: e["name"]),
        }
        manifest_bytes = redactor.data(json.dumps(manifest, indent=2).encode())
        # First in the archive, where a reader looks (and --inspect stops reading).
        comp.close(
            head=[
                (f"{top}/summary.txt", summary, mtime),
                (f"{top}/manifest.json", manifest_bytes, mtime),
            ]
        )
    except BaseException:
        comp.abort()
        partial.unlink(missing_ok=True)
        raise
    partial.rename(target)
    digest = hashlib.sha256()
    with open(target, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    mapping_path = None
    if redact:
        mapping_path = output_dir / (top + ".redaction-map.json")
        redactor.write_mapping(mapping_path)
    return ArchiveResult(target, digest.hexdigest(), json.loads(manifest_bytes), mapping_path)


def read_archive(path: Path) -> tuple[str, dict[str, Any]]:
    """(summary text, manifest) of an existing support archive. They are its first members,
    so only the start of the archive is decompressed."""
    if not path.is_file():
        raise InputError(f"{path} does not exist", "give the path of a multiarc-sysinfo archive")
    proc = None
    summary, manifest = None, None
    try:
        with open(path, "rb") as raw:
            magic = raw.read(6)
        if magic.startswith(b"\x28\xb5\x2f\xfd"):  # zstd frame
            tool = shutil.which("zstd")
            if tool is None:
                raise EnvironmentNotReady("zstd is not installed", "apt-get install zstd")
            proc = subprocess.Popen(
                [tool, "-dc", "-q", str(path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
            stream: Any = proc.stdout
        elif magic == b"\xfd7zXZ\x00":
            stream = lzma.open(path)  # reads every concatenated xz stream  # noqa: SIM115
        else:
            stream = open(path, "rb")  # noqa: SIM115 - a plain tar; tarfile says if not
        with stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in ("summary.txt", "manifest.json"):
                    fh = tar.extractfile(member)
                    data = fh.read() if fh else b""
                    if base == "summary.txt":
                        summary = data.decode(errors="replace")
                    else:
                        manifest = json.loads(data)
                if summary is not None and manifest is not None:
                    break
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        raise InputError(
            f"{path} is not a readable support archive: {exc}",
            "check the file was copied completely (compare its sha256)",
        ) from exc
    finally:
        if proc is not None:
            proc.kill()  # it may still be decompressing the rest
            proc.wait()
    if summary is None or manifest is None or not isinstance(manifest, dict):
        raise InputError(
            f"{path} has no summary.txt/manifest.json",
            "it was not made by multiarc-collect-sysinfo",
        )
    return summary, manifest
