"""Command line of multiarc-collect-sysinfo: one support archive, made fast and safely."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from multiarc.collect.archive import COMPRESSORS, build_archive, read_archive
from multiarc.collect.context import Context
from multiarc.collect.spec import ItemResult

from multiarc.errors import reports_errors


def _rich_progress() -> tuple[Any, Any]:
    """A rich progress bar on stderr (only called when stderr is a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    state: dict[str, Any] = {}

    def update(event: str, result: ItemResult | None, total: int) -> None:
        if event == "start":
            state["task"] = bar.add_task("collecting", total=total)
        elif event == "done" and result is not None:
            bar.update(state["task"], advance=1, description=f"{result.name} {result.status}")
        elif event == "compress":
            bar.update(state["task"], description="writing summary and manifest")

    return bar, update


@click.command(
    name="multiarc-collect-sysinfo", context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write the archive to.",
)
@click.option(
    "--redact",
    is_flag=True,
    help="Replace hostnames, IPv4/IPv6 and MAC addresses, dmidecode serial numbers and "
    "UUIDs, and user names by consistent tokens (<ip-1>, ...). The token table is "
    "written next to the archive, never into it.",
)
@click.option(
    "--compression",
    type=click.Choice(sorted(COMPRESSORS)),
    default="xz",
    show_default=True,
    help="xz (smallest: compressed while collecting, several xz at once, a large file "
    "multithreaded on every CPU but one) or zstd (fastest, multithreaded).",
)
@click.option(
    "--since-install",
    is_flag=True,
    help="Limit dmesg, the system journal and the install logs to the time since the last "
    "multiarc-install run recorded in /var/lib/multiarc/state.json (the firmware lines of "
    "the whole dmesg are kept for the BKC table).",
)
@click.option(
    "--timeout",
    "timeout_cap",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Cap every command's own timeout at this many seconds (own timeouts: 30 s for "
    "local commands, 120 s for the GPU tools, 300 s for xpu-smi diag -l 1).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1, max=64),
    default=16,
    show_default=True,
    help="How many collectors run at once.",
)
@click.option(
    "--inspect",
    "inspect",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Print the summary and manifest of an existing archive instead.",
)
@click.option("--json", "as_json", is_flag=True, help="With --inspect: print the manifest as JSON.")
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("/"),
    hidden=True,
    help="Read system files below this folder (tests).",
)
@reports_errors
def main(
    output: Path,
    redact: bool,
    compression: str,
    since_install: bool,
    timeout_cap: float | None,
    jobs: int,
    inspect: Path | None,
    as_json: bool,
    root: Path,
) -> None:
    """Collect one support archive of this machine for Intel Arc Pro B60 support.

    \b
    Gathers CPU (governors, lscpu, NUMA), memory, PCI (lspci -tv/-vvv/-nn -D), kernel
    (uname, cmdline, modules, dmesg, /sys/kernel/debug/dri), firmware (dmidecode, the BKC
    version table: OS, kernel, GuC/HuC/DMC, oneAPI, packages), GPU tools (sycl-ls,
    xpu-smi discovery/health/diag -l 1) and multiarc's install logs, state and last
    evaluation results, in parallel, each command with its own timeout.

    \b
    A missing tool, an unreadable file or a failing/hanging command is recorded in
    manifest.json with the reason; it never stops the archive. Proxy credentials
    (http://user:pass@host, proxy_user/proxy_password settings) are always removed.

    \b
    What needs root: dmesg (when kernel.dmesg_restrict=1), dmidecode, the PCI
    capabilities in lspci -vvv, /sys/kernel/debug/dri, the journal (--since-install).
    Without root everything else is collected and summary.txt lists what was not.

    \b
    The archive: multiarc-sysinfo-<host>-<UTC YYYYmmdd_HHMMSS>.tar.xz (.tar.zst with
    zstd), one folder holding summary.txt and manifest.json first (BKC table, GPU count,
    kernel, last evaluation verdict; every item's command, exit code, duration, bytes,
    sha256, tool version or skip reason), then cpu/ memory/ pci/ kernel/ firmware/
    system/ gpu/ multiarc/, and <file>.stderr where a command wrote to stderr.

    \b
    Examples:
      sudo multiarc-collect-sysinfo --output /tmp
      sudo multiarc-collect-sysinfo --redact --compression zstd
      sudo multiarc-collect-sysinfo --since-install --output /var/tmp
      multiarc-collect-sysinfo --inspect multiarc-sysinfo-host-20250101_120000.tar.xz

    \b
    The last line printed is the archive's path and its sha256:
      /tmp/multiarc-sysinfo-host-20250101_120000.tar.xz  sha256:<64 hex digits>
    With --redact the token table (token -> real value) is written next to the archive
    as *.redaction-map.json, readable by you only; it is never put into the archive.

    \b
    Exit codes: 0 archive written (failed or skipped items are recorded inside, they do
    not change the exit code); 2 bad input (unwritable --output, --inspect of a file that
    is not a support archive); 3 environment not ready (the chosen compressor is missing
    or failed, e.g. the disk is full).
    """
    if inspect is not None:
        summary, manifest = read_archive(inspect)
        if as_json:
            click.echo(json.dumps(manifest, indent=2))
            return
        click.echo(summary)
        _print_manifest(manifest)
        return
    ctx = Context(root=root, since_install=since_install, timeout_cap=timeout_cap)
    if sys.stderr.isatty():
        bar, update = _rich_progress()
        with bar:
            result = build_archive(output, ctx, redact, compression, update, jobs)
    else:
        result = build_archive(output, ctx, redact, compression, None, jobs)
    problems = [f for f in result.manifest["files"] if f["status"] != "ok"]
    click.echo(
        f"{len(result.manifest['files'])} entries, {len(problems)} not ok "
        f"(see summary.txt in the archive)",
        err=True,
    )
    if result.mapping_path is not None:
        click.echo(f"redaction table (keep it, do not send it): {result.mapping_path}", err=True)
    click.echo(f"{result.path}  sha256:{result.sha256}")


def _print_manifest(manifest: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"manifest ({manifest.get('created', '?')}, host {manifest.get('host')})")
    for col in ("name", "status", "exit", "seconds", "bytes", "source / reason"):
        table.add_column(col, overflow="fold")
    for f in manifest.get("files", []):
        table.add_row(
            f["name"],
            f["status"],
            "" if f["exit_code"] is None else str(f["exit_code"]),
            f"{f['duration_s']:.2f}",
            str(f["bytes"]),
            f.get("reason") or f["source"],
        )
    Console(width=160).print(table)
