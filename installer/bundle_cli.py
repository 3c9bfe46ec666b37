"""``multiarc-install bundle create|verify``: make and check offline bundles."""

from __future__ import annotations

from pathlib import Path

import click
from multiarc.installer.bundle import (
    CreatedBundle,
    VerifiedBundle,
    create_bundle,
    human_size,
    verify_bundle,
)
from multiarc.installer.bundle_manifest import TargetOS
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from multiarc import __version__
from multiarc.errors import reports_errors

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

LAYOUT_HELP = """\b
The tree (Intel's offline installer layout):
  VERSION                      the bundle version (first line)
  README.md
  kernel/*.deb                 the validated kernel (linux-image-<release> ...)  required
  firmware/*.bin.zst           GuC/HuC firmware for /lib/firmware/xe             required
  firmware/<dir>/*.bin*        or folders mirroring /lib/firmware (xe/, i915/)
  base/*.deb, base/docker/*.deb
  gfxdrv/{base,gpgpu,video,graphics}/*.deb      (gpgpu required)
  oneapi/intel-oneapi-base-toolkit-<ver>_offline.sh
  tools/{1ccl,gemm,xpu-smi}/*.deb, tools/level-zero-tests/ (ze_peer, ze_peak, *.spv)
  scripts/, results/reference_perf.csv
"""


def _console() -> Console:
    return Console(highlight=False)


@click.group(name="bundle", context_settings=CONTEXT)
def bundle() -> None:
    """Make and check offline bundles.

    A bundle is Intel's offline installer tree packed as .tar.xz. multiarc's own bundles add
    manifest.json (every file's path, size, sha256, component and package version, the
    bundle version and the target OS), which `multiarc-install --offline` verifies before it
    changes anything. Intel's archives without a manifest are accepted too: their layout is
    checked, their checksums cannot be.
    """


@bundle.command(
    "create",
    context_settings=CONTEXT,
    epilog=LAYOUT_HELP
    + """
\b
Examples:
  # pack an unpacked Intel bundle (or your own tree) with a manifest
  multiarc-install bundle create multi-arc-bmg-offline-installer-25.31/ -o b60-25.31.tar.xz
  # a tree without VERSION, for Ubuntu 25.04 on arm64, fastest compression
  multiarc-install bundle create tree/ -o b.tar.xz --version 25.31-lab1 \\
      --target-os ubuntu:25.04:arm64 --compression-level 0

\b
Writes OUT and OUT.sha256 (sha256sum format). Exit codes: 0 done, 2 bad tree or option.
""",
)
@click.argument(
    "src_dir", metavar="SRC_DIR", type=click.Path(path_type=Path, file_okay=False, exists=True)
)
@click.option(
    "-o",
    "--output",
    "output",
    metavar="OUT.tar.xz",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The archive to write.",
)
@click.option(
    "--version",
    "version",
    metavar="V",
    help="Bundle version (default: the first line of SRC_DIR/VERSION; without that file a "
    "VERSION holding V is added to the archive).",
)
@click.option(
    "--target-os",
    metavar="ID:VERSION[:ARCH]",
    default="ubuntu:25.04:amd64",
    show_default=True,
    help="The OS the bundle's packages are built for (recorded in the manifest).",
)
@click.option(
    "--compression-level",
    type=click.IntRange(0, 9),
    default=1,
    show_default=True,
    help="xz preset (multithreaded xz -T0). A bundle is mostly already-compressed .debs, so "
    "higher levels save little and cost much: ~10 MB/s per core at 1, ~2 MB/s at 6.",
)
@reports_errors
def create(
    src_dir: Path, output: Path, version: str | None, target_os: str, compression_level: int
) -> None:
    """Check the tree SRC_DIR, write its manifest and pack both as OUT.tar.xz.

    Reads every .deb's control fields (dpkg-deb -f) for the manifest; refuses symbolic
    links, a missing VERSION without --version, and a tree without the required folders.
    """
    console = _console()
    target = TargetOS.parse(target_os)
    total = sum(p.stat().st_size for p in src_dir.rglob("*") if p.is_file() and not p.is_symlink())
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        sums = progress.add_task("checksums", total=total)
        pack = progress.add_task("compressing", total=total, start=False)

        def on_sum(_rel: str, size: int) -> None:
            progress.advance(sums, size)

        def on_pack(_rel: str, size: int) -> None:
            progress.start_task(pack)
            progress.advance(pack, size)

        made = create_bundle(
            src_dir,
            output,
            version=version,
            target_os=target,
            preset=compression_level,
            created_by=f"multiarc {__version__}",
            checksum_progress=on_sum,
            pack_progress=on_pack,
        )
    sidecar = output.with_name(output.name + ".sha256")
    sidecar.write_text(f"{made.sha256}  {output.name}\n")
    _print_created(console, made, sidecar)


def _print_created(console: Console, made: CreatedBundle, sidecar: Path) -> None:
    console.print(f"wrote {made.path} (bundle {made.version})")
    console.print(
        f"  {made.files} files, {made.packages} packages, {human_size(made.size)} unpacked, "
        f"{human_size(made.archive_size)} archive"
    )
    console.print(f"  target OS: {made.manifest.target_os}")
    console.print(f"  sha256: {made.sha256}  ({sidecar.name})")
    for note in made.notes:
        console.print(f"note: {note}")


@bundle.command(
    "verify",
    context_settings=CONTEXT,
    epilog="""\b
What is checked, in one streamed read (nothing is extracted):
  - every member is safe: no absolute path, no `..`, no link leaving the tree,
    no device or FIFO;
  - with manifest.json: every listed file is there with its size and sha256, nothing
    unlisted is there, VERSION agrees with the manifest;
  - the layout: VERSION, kernel/*.deb, firmware blobs, gfxdrv/gpgpu/*.deb are
    required (missing optional parts are notes); every .deb is a Debian archive.

\b
Examples:
  multiarc-install bundle verify multi-arc-bmg-offline-installer-25.31.tar.xz

\b
Exit codes: 0 verified, 2 corrupt, tampered, unsafe or incomplete (the line names the file).
""",
)
@click.argument("bundle_path", metavar="BUNDLE", type=click.Path(path_type=Path, dir_okay=False))
@reports_errors
def verify(bundle_path: Path) -> None:
    """Check BUNDLE (.tar.xz) completely without changing anything."""
    console = _console()
    checked = verify_bundle(bundle_path)
    console.print(_verified_table(checked))
    console.print(
        f"bundle {checked.version}: {checked.files} files, {human_size(checked.total_size)} "
        f"unpacked; kernel {checked.kernel_version or 'not found'}; target OS "
        f"{checked.target_os or 'not recorded'}"
    )
    for note in checked.notes:
        console.print(f"note: {note}")
    how = (
        "size and sha256 of every file match the manifest"
        if checked.has_manifest
        else ("layout checked; no manifest, so no checksums")
    )
    console.print(f"[bold green]verified[/]: {how}")


def _verified_table(checked: VerifiedBundle) -> Table:
    title = f"{checked.path.name} ({'manifest' if checked.has_manifest else 'no manifest'})"
    table = Table(title=title)
    table.add_column("component")
    table.add_column("files", justify="right")
    table.add_column("size", justify="right")
    table.add_column("packages", justify="right")
    table.add_column("checked")
    how = "size, sha256" if checked.has_manifest else "layout"
    for part in checked.components:
        packages = str(len(part.packages)) if checked.has_manifest else "-"
        table.add_row(part.component, str(part.files), human_size(part.size), packages, how)
    return table
