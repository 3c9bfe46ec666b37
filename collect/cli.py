"""Command line of multiarc-collect-sysinfo: one support archive, made fast and safely."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from multiarc.collect import interrupts
from multiarc.collect.archive import COMPRESSORS, BuildOptions, build_archive, check_map_folder
from multiarc.collect.archive_check import ArchiveDamaged, read_archive
from multiarc.collect.context import Context
from multiarc.collect.spec import ItemResult
from multiarc.collect.summary import counts_line

import multiarc.errors as errors_mod

if TYPE_CHECKING:
    from multiarc.collect.fleet_run import FleetCollectOptions
from multiarc.errors import InputError, reports_errors


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
    cls=errors_mod.Command,
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
    help="Also replace host names (in context), IPv4/IPv6 and MAC addresses, serial "
    "numbers and UUIDs (dmidecode, /sys/class/dmi/id, xpu-smi, PCIe DSN), user names and "
    "the same in member names, by consistent tokens (<host-1>, <ip-1>, ...). The token "
    "table is written next to the archive (or to --map), never into it.",
)
@click.option(
    "--domain",
    "domains",
    multiple=True,
    metavar="DOMAIN",
    help="With --redact: every host name in DOMAIN (any depth) becomes a token. Repeatable.",
)
@click.option(
    "--keyword",
    "keywords",
    multiple=True,
    metavar="WORD",
    help="With --redact: WORD (a project, a customer) becomes a token. Repeatable.",
)
@click.option(
    "--host-name",
    "host_names",
    multiple=True,
    metavar="NAME",
    help="With --redact: NAME is a host name too (an alias of this machine, another node "
    "of the rack), replaced like this machine's own. Repeatable.",
)
@click.option(
    "--keyword-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="With --redact: one keyword per line (# comments allowed).",
)
@click.option(
    "--map",
    "map_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --redact: the token table to reuse and update, so the same host gets the "
    "same token in every archive of this machine (created when missing, mode 0600).",
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
    "--since",
    metavar="TIME",
    default=None,
    help="The journal from TIME on (journalctl's syntax: '2025-01-31 12:00', '-2h', "
    "'yesterday'); the kernel journals of this and the previous boot are bounded by it "
    "too (default: the last 7 days).",
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
    help="Check an existing archive instead: decompress it whole, check every member's "
    "sha256 against manifest.json, print its summary and manifest. A cut-off or altered "
    "archive is exit 1, naming the first bad member.",
)
@click.option(
    "--inventory",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Collect on every host of this Ansible inventory instead (in parallel, over SSH, "
    "as root: ansible_user=root or become). Each archive is checked and fetched into one "
    "folder under --output with index.json and index.txt; with --redact one token table "
    "serves every host.",
)
@click.option(
    "--limit",
    default=None,
    metavar="PATTERN",
    help="With --inventory: only these hosts or groups (Ansible's pattern, e.g. rack1,node7).",
)
@click.option(
    "--forks",
    type=click.IntRange(min=1, max=256),
    default=5,
    show_default=True,
    help="With --inventory: how many hosts collect at once (Ansible's forks).",
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
    domains: tuple[str, ...],
    keywords: tuple[str, ...],
    host_names: tuple[str, ...],
    keyword_file: Path | None,
    map_file: Path | None,
    compression: str,
    since_install: bool,
    since: str | None,
    timeout_cap: float | None,
    jobs: int,
    inspect: Path | None,
    inventory: Path | None,
    limit: str | None,
    forks: int,
    as_json: bool,
    root: Path,
) -> None:
    """Collect one support archive of this machine for Intel Arc Pro B60 support.

    \b
    Gathers, in parallel, each command with its own timeout: cpu, memory, pci (lspci
    -tv/-vvv/-nn -D), kernel and modules (dmesg, /sys/kernel/debug/dri, modprobe.d, xe
    parameters, modinfo xe, dkms, tainted), logs (kernel journal of this and the
    previous boot, kern.log, failed units), apt (history, dpkg.log, sources, holds,
    policy of the bundle's packages), boot (GRUB defaults and menu, /boot, Secure Boot),
    system (sysctl, interrupts, iomem, udev drm/pci, proxy settings), topology (lstopo),
    firmware (dmidecode, /sys/class/dmi/id, fwupdmgr, the BKC table), gpu and compute
    (sycl-ls, xpu-smi, clinfo, vulkaninfo, ZE_/SYCL_/ONEAPI_/NEO variables) and
    multiarc's install logs, state and last evaluation.

    \b
    A missing tool, an unreadable file or a failing/hanging command is recorded in
    manifest.json with the reason; it never stops the archive. Credentials and tokens
    in every spelling (URLs, user:pass@host, apt/pip/npm/systemd proxy settings,
    *_TOKEN/*_KEY/*PASSWORD* settings, --token/--api-key options, XML and YAML values,
    SNMP communities, cookies, signed URLs, hf_/ghp_/glpat-/AKIA/npm_/pypi-/AIza tokens,
    JWTs, private keys) are always removed and listed by kind in manifest.json; .netrc,
    .ssh, .env and key files are never collected.

    \b
    What needs root: dmesg (when kernel.dmesg_restrict=1), dmidecode, the PCI
    capabilities in lspci -vvv, /sys/kernel/debug/dri, the journal, /proc/iomem.
    Without root everything else is collected and summary.txt lists what was not.

    \b
    The archive: multiarc-sysinfo-<host>-<UTC YYYYmmdd_HHMMSS>.tar.xz (.tar.zst with
    zstd), mode 0600: summary.txt and manifest.json first, then one folder per concern,
    and <file>.stderr where a command wrote to stderr. It is written under a private
    name and published without replacing or following anything another user put there
    (then under a -2 name).

    \b
    Examples:
      sudo multiarc-collect-sysinfo --output /tmp
      sudo multiarc-collect-sysinfo --redact --domain corp.example --map /root/host.map
      sudo multiarc-collect-sysinfo --since-install --output /var/tmp
      multiarc-collect-sysinfo --inspect multiarc-sysinfo-host-20250101_120000.tar.xz
      multiarc-collect-sysinfo --inventory rack.ini --forks 16 --redact --output /srv/support

    \b
    A fleet (--inventory): every host collects at once (--forks, --limit as in Ansible)
    with the collector shipped by this machine (the node needs python3 only); each
    archive is checked on arrival (the sha256 the node printed, every member against its
    manifest) and lands in <output>/multiarc-sysinfo-fleet-<UTC>/hosts/<host>/, listed with
    unreachable and failed hosts (and why) in index.json and index.txt. Nothing stays on
    the nodes. With --redact, one token table serves the whole fleet: a host or address
    seen on two nodes has one token (the table lands next to the folder, or in --map).

    \b
    The last line printed is the archive's path and its sha256:
      /tmp/multiarc-sysinfo-host-20250101_120000.tar.xz  sha256:<64 hex digits>
    With --redact the token table (token -> real value) is written next to the archive
    as *.redaction-map.json (or to --map), readable by you only; never into the archive.

    \b
    Exit codes: 0 archive written (failed or skipped items are recorded inside) or
    --inspect found it intact (with --inventory: every host's archive arrived); 1
    --inspect found it cut off or altered (with --inventory: some host gave no archive,
    index.json says why); 2 bad input (an unreadable inventory, an
    --output that is not writable, read-only, under /proc or whose parent is missing;
    --inspect of a file that is not a support archive); 3 environment not ready (the
    compressor is missing or failed, e.g. the disk is full); 130 Ctrl-C, 143 SIGTERM
    (nothing is left behind).
    """
    if inspect is not None:
        if inventory is not None:
            raise click.UsageError("--inspect and --inventory do not go together")
        _inspect(inspect, as_json)
        return
    if inventory is None and limit is not None:
        raise click.UsageError("--limit needs --inventory")
    if (domains or keywords or keyword_file or map_file or host_names) and not redact:
        raise click.UsageError(
            "--domain, --keyword, --keyword-file, --host-name and --map need --redact")
    options = BuildOptions(
        output_dir=output, redact=redact, compression=compression, max_workers=jobs,
        domains=domains, keywords=keywords + _read_keywords(keyword_file), map_file=map_file,
        host_names=host_names,
    )
    if inventory is not None:
        from multiarc.collect.fleet_run import FleetCollectOptions  # not on the node's copy

        _fleet(FleetCollectOptions(
            inventory, options, limit=limit, forks=forks, since_install=since_install,
            since=since, timeout_cap=timeout_cap, say=lambda line: click.echo(line, err=True)))
        return
    ctx = Context(root=root, since_install=since_install, since=since, timeout_cap=timeout_cap)
    interrupts.install()
    try:
        if sys.stderr.isatty():
            bar, update = _rich_progress()
            with bar:
                result = build_archive(options, ctx, update)
        else:
            result = build_archive(options, ctx, None)
    except (KeyboardInterrupt, interrupts.Terminated) as exc:
        # build_archive has killed the commands and removed its partial files
        interrupts.exit_now("interrupted: nothing was written", interrupts.exit_status(exc))
    removed = sum(int(f["count"]) for f in result.manifest.get("secrets_removed", []))
    click.echo(
        counts_line(result.counts) + f"; {removed} secret(s) removed (see summary.txt and "
        "manifest.json in the archive)",
        err=True,
    )
    if result.mapping_path is not None:
        click.echo(f"redaction table (keep it, do not send it): {result.mapping_path}", err=True)
    click.echo(f"{result.path}  sha256:{result.sha256}")


def _fleet(opts: FleetCollectOptions) -> None:
    from multiarc.collect.fleet_run import run_fleet_collect

    if opts.build.map_file is not None:
        check_map_folder(opts.build.map_file)
    result = run_fleet_collect(opts)
    click.echo(result.folder)
    if result.exit_code == 130:
        interrupts.exit_now("interrupted: the archives that came back are kept", 130)
    sys.exit(result.exit_code)


def _read_keywords(path: Path | None) -> tuple[str, ...]:
    if path is None:
        return ()
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"--keyword-file {path}: {exc.strerror}",
                         "give a readable file, one keyword per line") from None
    return tuple(w for w in (line.split("#", 1)[0].strip() for line in lines) if w)


def _inspect(path: Path, as_json: bool) -> None:
    check = read_archive(path, verify=True)
    if as_json:
        click.echo(json.dumps(check.manifest | {"integrity": {
            "members_ok": check.checked, "problems": check.problems}}, indent=2))
    else:
        click.echo(check.summary)
        _print_manifest(check.manifest)
    if check.problems:
        more = f" (and {len(check.problems) - 1} more)" if len(check.problems) > 1 else ""
        raise ArchiveDamaged(f"{path}: {check.problems[0]}{more}",
                             "the archive is cut off or altered: copy it again and compare "
                             "its sha256 with the one printed when it was made")
    click.echo(f"integrity: {check.checked} member(s), every sha256 matches manifest.json",
               err=True)


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
