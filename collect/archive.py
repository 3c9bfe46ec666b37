"""Build the support archive: run the collectors, scrub, stream into tar + multithreaded xz/zstd.

Without --redact every result is written as soon as it is ready, so compression overlaps the
slow tools. With --redact the results are held until all are in (dmidecode's serials must be
known before any file is written), then scrubbed with one consistent token table.
Layout: ``multiarc-sysinfo-<host>-<timestamp>/{summary.txt,manifest.json,<concern>/...}``.
"""

from __future__ import annotations

import hashlib
import io
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
from typing import IO, Any

from multiarc.collect import bkc, probes
from multiarc.collect.collectors import build_collectors, last_results_collector
from multiarc.collect.context import Context
from multiarc.collect.redact import Redactor, dmi_identifiers
from multiarc.collect.runner import MAX_WORKERS, run_collectors
from multiarc.collect.spec import ItemResult, Status

import multiarc
from multiarc.errors import EnvironmentNotReady, InputError

COMPRESSORS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (suffix, command writing the compressed stream of stdin to stdout)
    "xz": (".tar.xz", ("xz", "-9", "-T0", "-c", "-q")),
    "zstd": (".tar.zst", ("zstd", "-T0", "-10", "-c", "-q")),
}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ArchiveResult:
    path: Path
    sha256: str
    manifest: dict[str, Any]
    mapping_path: Path | None


Progress = Callable[[str, ItemResult | None, int], None]  # event, result, total


class _Compressor:
    """A tar stream into ``xz -T0`` / ``zstd -T0`` (Python's lzma if the xz tool is missing)."""

    def __init__(self, kind: str, target: Path) -> None:
        self._file = open(target, "wb")  # noqa: SIM115 - closed in close()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lzma: lzma.LZMAFile | None = None
        argv = COMPRESSORS[kind][1]
        tool = shutil.which(argv[0])
        stream: IO[bytes]
        if tool is not None:
            self._proc = subprocess.Popen([tool, *argv[1:]], stdin=subprocess.PIPE,
                                          stdout=self._file)
            assert self._proc.stdin is not None
            stream = self._proc.stdin
        elif kind == "xz":
            self._lzma = lzma.LZMAFile(self._file, "wb", preset=9)  # noqa: SIM115
            stream = self._lzma  # type: ignore[assignment]
        else:
            self._file.close()
            target.unlink(missing_ok=True)
            raise EnvironmentNotReady(f"{argv[0]} is not installed",
                                      "install it (apt-get install zstd) or use --compression xz")
        self.tar = tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def add(self, name: str, data: bytes, mtime: float) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), int(mtime), 0o644
        self.tar.addfile(info, io.BytesIO(data))

    def close(self) -> None:
        self.tar.close()
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            code = self._proc.wait()
            if code != 0:
                raise EnvironmentNotReady(f"the compressor exited with status {code}",
                                          "check free space in the output folder")
        if self._lzma is not None:
            self._lzma.close()
        self._file.close()

    def abort(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._file.close()


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


def _summary(ctx: Context, host: str, created: str, results: list[ItemResult],
             redact: bool) -> str:
    by_name = {r.name: r for r in results}
    dmesg = by_name.get("kernel/dmesg.txt")
    dmesg_text = (dmesg.data.decode(errors="replace")
                  if dmesg is not None and dmesg.data and dmesg.status == Status.OK else None)
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
        + (": " + ", ".join(f"{g.bdf} {g.pci_id} {g.driver or 'no driver'}" for g in gpus)
           if gpus else ""),
        "Last evaluation: "
        + (f"{last.verdict} ({last.detail}) in {last.folder}" if last else "none found"),
        "",
        "BKC versions",
    ]
    rows = bkc.bkc_rows(ctx, dmesg_text)
    width = max(len(c) for c, _ in rows)
    lines += [f"  {c:<{width}}  {v}" for c, v in rows]
    counts = {s: sum(1 for r in results if r.status == s) for s in Status}
    lines += ["", "Collection: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    problems = [r for r in results if r.status != Status.OK]
    for r in sorted(problems, key=lambda r: (str(r.status), r.name)):
        lines.append(f"  {r.status!s:<8} {r.name}: {r.reason}")
    if not ctx.is_root:
        needs = sorted(r.name for r in results if r.needs_root)
        lines += ["", "Not run as root; these need root to be complete: " + ", ".join(needs),
                  "  (run: sudo multiarc-collect-sysinfo)"]
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
        raise InputError(f"cannot create the output folder {output_dir}: {exc.strerror}",
                         "choose a writable folder with --output") from exc
    redactor = Redactor(ctx, full=redact)
    real_host = socket.gethostname() or "localhost"
    host = redactor.token(real_host, "host") if redact else real_host
    host = _SAFE.sub("_", host).strip("<>_") or "host"
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%d_%H%M%S")
    top = f"multiarc-sysinfo-{host}-{stamp}"
    target = output_dir / (top + COMPRESSORS[compression][0])
    partial = target.with_name(target.name + ".partial")
    collectors = build_collectors(ctx)
    extra = last_results_collector(ctx)
    if extra:
        collectors.append(extra)

    started = time.monotonic()
    entries: list[dict[str, Any]] = []
    results: list[ItemResult] = []
    comp = _Compressor(compression, partial)
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
            comp.add(f"{top}/{result.name}.stderr", redactor.data(result.stderr), mtime)

    try:
        total = 0

        def on_start(n: int) -> None:
            nonlocal total
            total = n
            if progress:
                progress("start", None, n)

        for result in run_collectors(collectors, ctx, max_workers, on_start):
            results.append(result)
            if progress:
                progress("done", result, total)
            if not redact:
                write(result)
        if redact:
            for result in results:
                if result.name == "firmware/dmidecode.txt" and result.data:
                    redactor.learn(dmi_identifiers(result.data.decode(errors="replace")),
                                   "serial")
            for result in sorted(results, key=lambda r: r.name):
                write(result)
        if progress:
            progress("compress", None, total)
        summary = redactor.data(_summary(ctx, real_host, now.isoformat(timespec="seconds"),
                                         results, redact).encode())
        comp.add(f"{top}/summary.txt", summary, mtime)
        manifest = {
            "tool": "multiarc-collect-sysinfo",
            "version": multiarc.__version__,
            "created": now.isoformat(timespec="seconds"),
            "host": host,
            "ran_as_root": ctx.is_root,
            "redacted": redact,
            "compression": compression,
            "duration_s": round(time.monotonic() - started, 3),
            "skipped": {r.name: r.reason for r in results if r.status == Status.SKIPPED},
            "needs_root": sorted(r.name for r in results if r.needs_root),
            "files": sorted(entries, key=lambda e: e["name"]),
        }
        manifest_bytes = redactor.data(json.dumps(manifest, indent=2).encode())
        comp.add(f"{top}/manifest.json", manifest_bytes, mtime)
        comp.close()
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


def read_archive(path: Path) -> tuple[str, dict[str, Any], list[str]]:
    """(summary text, manifest, member names) of an existing support archive."""
    if not path.is_file():
        raise InputError(f"{path} does not exist", "give the path of a multiarc-sysinfo archive")
    proc = None
    try:
        if path.name.endswith(".zst"):
            tool = shutil.which("zstd")
            if tool is None:
                raise EnvironmentNotReady("zstd is not installed", "apt-get install zstd")
            proc = subprocess.Popen([tool, "-dc", "-q", str(path)], stdout=subprocess.PIPE)
            tar = tarfile.open(fileobj=proc.stdout, mode="r|")  # noqa: SIM115
        else:
            tar = tarfile.open(path, mode="r|*")  # noqa: SIM115
        summary, manifest, names = None, None, []
        with tar:
            for member in tar:
                names.append(member.name)
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in ("summary.txt", "manifest.json"):
                    fh = tar.extractfile(member)
                    data = fh.read() if fh else b""
                    if base == "summary.txt":
                        summary = data.decode(errors="replace")
                    else:
                        manifest = json.loads(data)
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable support archive: {exc}",
                         "check the file was copied completely (compare its sha256)") from exc
    finally:
        if proc is not None:
            proc.wait()
    if summary is None or manifest is None:
        raise InputError(f"{path} has no summary.txt/manifest.json",
                         "it was not made by multiarc-collect-sysinfo")
    return summary, manifest, names
