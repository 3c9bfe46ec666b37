"""Wall time of multiarc-install vs the plain method of the original, on fresh test roots.

The bundle is the synthetic fixture bundle (tests/fixtures/synthetic_bundle.py): ~40 real
.deb packages shaped like a kernel + firmware + driver + tools stack, ~300 MB of payload
(``--payload-mb``), packed once with its manifest and cached. Every trial uses fresh
nodes: copies of the cached Debian trixie image served by chrooted sshd on loopback
(tests/integration/rootfs.py), so both methods reach the node over SSH, as on a rack.

* plain: what Intel's installer.sh does, written here as one bash script: copy the
  archive to the node (scp), unpack it there, ``dpkg -i`` folder by folder (kernel, base,
  base/docker, gfxdrv/{base,gpgpu,video,graphics}, tools/*), GuC/HuC blobs into
  /lib/firmware/xe + ``update-initramfs -u``, GRUB_DEFAULT and the kernel command line
  (overwritten, as the original does) + ``update-grub``, auto-update units masked,
  20auto-upgrades, AppArmor no-audit, the oneAPI offline installer, the level-zero-tests,
  reference and scripts copied to /opt/intel/multi-arc. No checks, no state, no log.
* multiarc: ``multiarc-install --offline BUNDLE --inventory INV --allow-os-override --yes``
  (bundle verification, extraction, transfer, the playbook, state and summary); then the
  same command again on the same node: the idempotent re-run.

Printed: each time, the orchestration overhead (multiarc - plain, seconds), where
multiarc's time goes (verify+extract on the controller, the playbook), and the ratios
against the goals: multiarc <= 1.3x plain, re-run <= 15 s.

Run as root: ``.venv/bin/python benchmarks/install_speed.py [--repeat N] [--payload-mb MB]``.
Exit status 0 when both goals are met, 1 otherwise, 3 when the harness is unavailable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from multiarc.installer.verify import PACKAGE_DIRS  # noqa: E402

from tests.fixtures.synthetic_bundle import (  # noqa: E402
    ONEAPI_COMPONENTS,
    build_bundle_archive,
    build_bundle_tree,
    fixture_cache_dir,
)
from tests.integration.rootfs import (  # noqa: E402
    HarnessUnavailable,
    build_image,
    make_key,
    require_harness,
    unpack_image,
)
from tests.integration.sites import (  # noqa: E402
    Harness,
    Site,
    installer_command,
    new_site,
)

RATIO_GOAL = 1.3
RERUN_GOAL_S = 15.0

# Intel's installer.sh order: kernel first (its own step in the script), then the package
# folders one by one, in the bundle's order.
PLAIN_FOLDERS = tuple(d for d in PACKAGE_DIRS if d != "kernel")

PLAIN_SCRIPT = r"""
set -euo pipefail
cd /root
tar -xJf bundle.tar.xz
B=$(echo /root/multi-arc-bmg-offline-installer-*)
[ -f "$B/manifest.json" ] || true   # the original has no manifest and checks nothing
# kernel: install, make it the default (the original hard-codes the menu titles)
dpkg -i "$B"/kernel/*.deb
KREL=$(ls "$B"/kernel/ | sed -n 's/^linux-image-\(.*\)_.*_amd64\.deb$/\1/p' | head -1)
NAME=$(. /etc/os-release; echo "$NAME")
sed -i "s|^GRUB_DEFAULT=.*|GRUB_DEFAULT=\"Advanced options for $NAME>$NAME, with Linux $KREL\"|" \
    /etc/default/grub
# kernel command line: the original overwrites it
CMDLINE='GRUB_CMDLINE_LINUX_DEFAULT="quiet splash intel_iommu=off"'
sed -i "s|^GRUB_CMDLINE_LINUX_DEFAULT=.*|$CMDLINE|" /etc/default/grub
update-grub
# firmware
mkdir -p /lib/firmware/xe
cp "$B"/firmware/*.zst /lib/firmware/xe/
update-initramfs -u -k all
# no automatic updates, quiet AppArmor
for u in unattended-upgrades.service apt-daily.timer apt-daily.service \
         apt-daily-upgrade.timer apt-daily-upgrade.service; do
    ln -sf /dev/null /etc/systemd/system/$u
done
printf 'APT::Periodic::Update-Package-Lists "0";\nAPT::Periodic::Unattended-Upgrade "0";\n' \
    > /etc/apt/apt.conf.d/20auto-upgrades
grep -q '^no-audit' /etc/apparmor/parser.conf || echo no-audit >> /etc/apparmor/parser.conf
# packages, folder by folder
for d in @FOLDERS@; do
    dpkg -i "$B"/$d/*.deb
done
# oneAPI, silently
bash "$B"/oneapi/*_offline.sh -a -s --eula accept --install-dir=/opt/intel/oneapi \
    --components @COMPONENTS@
# tools layout
mkdir -p /opt/intel/multi-arc/tools/level-zero-tests /opt/intel/multi-arc/results
cp -a "$B"/tools/level-zero-tests/. /opt/intel/multi-arc/tools/level-zero-tests/
cp "$B"/results/reference_perf.csv /opt/intel/multi-arc/results/
cp -a "$B"/scripts /opt/intel/multi-arc/
"""


def plain_script() -> str:
    return PLAIN_SCRIPT.replace("@FOLDERS@", " ".join(PLAIN_FOLDERS)).replace(
        "@COMPONENTS@", ":".join(ONEAPI_COMPONENTS)
    )


@dataclass
class Trial:
    plain_s: float = 0.0
    plain_copy_s: float = 0.0  # scp of the archive (part of plain_s)
    multiarc_s: float = 0.0
    controller_s: float = 0.0  # start to the first task: preflight, verify, extract
    playbook_s: float = 0.0  # first task to the end of the summary
    rerun_s: float = 0.0
    rerun_changed: int = -1
    notes: list[str] = field(default_factory=list)


def bundle_archive(payload_mb: float, work: Path) -> tuple[Path, Path]:
    """The fixture tree and its archive with manifest (cached: xz takes a minute for 300 MB)."""
    tree = build_bundle_tree(work / "tree", payload_mb=payload_mb, cache=fixture_cache_dir())
    listing = sorted(
        (str(p.relative_to(tree)), p.stat().st_size) for p in tree.rglob("*") if p.is_file()
    )
    key = hashlib.sha256(json.dumps([payload_mb, listing]).encode()).hexdigest()[:16]
    cached = fixture_cache_dir().parent / "install-speed" / f"bundle-{key}.tar.xz"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        build_bundle_archive(tree, partial)
        partial.replace(cached)
    return tree, cached


def run_plain(site: Site, archive: Path) -> tuple[float, float]:
    node = site.node
    started = time.monotonic()
    subprocess.run(
        [
            "scp",
            "-q",
            *node.ssh_options(),
            "-P",
            str(node.port),
            str(archive),
            f"root@{node.address}:/root/bundle.tar.xz",
        ],
        check=True,
    )
    copied = time.monotonic()
    done = subprocess.run(
        ["ssh", *node.ssh_options(), "-p", str(node.port), f"root@{node.address}", "bash -s"],
        input=plain_script(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    ended = time.monotonic()
    if done.returncode != 0:
        raise RuntimeError(f"plain method failed: {done.stderr.strip()[-800:]}")
    return ended - started, copied - started


def run_multiarc(site: Site, archive: Path) -> tuple[float, float, float, int]:
    """(wall, controller phase, playbook phase, changed) of one multiarc-install."""
    args = site.args(
        "--offline",
        str(archive),
        "--inventory",
        str(site.inventory),
        "--allow-os-override",
        "--yes",
    )
    started = time.monotonic()
    first_task = None
    lines = []
    with subprocess.Popen(
        args,
        env=site.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=site.folder,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if first_task is None and line.startswith("["):
                first_task = time.monotonic()
            lines.append(line)
    ended = time.monotonic()
    output = "".join(lines)
    if proc.returncode != 0:
        raise RuntimeError(f"multiarc-install failed ({proc.returncode}): {output[-1500:]}")
    changed = site.state()["last_run"]["changed"]
    first_task = first_task or ended
    return ended - started, first_task - started, ended - first_task, int(changed)


def one_trial(harness: Harness, archive: Path, number: int) -> Trial:
    trial = Trial()
    order = ("plain", "multiarc") if number % 2 == 0 else ("multiarc", "plain")
    for method in order:
        site = new_site(harness, f"{method}{number}")
        try:
            if method == "plain":
                trial.plain_s, trial.plain_copy_s = run_plain(site, archive)
            else:
                wall, ctl, play, _ = run_multiarc(site, archive)
                trial.multiarc_s, trial.controller_s, trial.playbook_s = wall, ctl, play
                trial.rerun_s, _, _, trial.rerun_changed = run_multiarc(site, archive)
        finally:
            harness.remove_node(site.node)
    return trial


def median(trials: list[Trial], attr: str) -> float:
    return statistics.median(getattr(t, attr) for t in trials)


def report(trials: list[Trial], packages: int, payload_mb: float, archive: Path) -> bool:
    plain = median(trials, "plain_s")
    multiarc = median(trials, "multiarc_s")
    rerun = median(trials, "rerun_s")
    ratio = multiarc / plain
    ok_ratio = ratio <= RATIO_GOAL
    ok_rerun = rerun <= RERUN_GOAL_S and all(t.rerun_changed == 0 for t in trials)
    size = archive.stat().st_size / 1e6
    print(
        f"\ninstall speed: {packages} packages, {payload_mb:g} MB payload, archive {size:.0f} MB,"
        f" {len(trials)} trial(s), medians"
    )
    scp = median(trials, "plain_copy_s")
    print(f"  plain (scp + dpkg -i per folder)   {plain:7.1f} s   (scp {scp:.1f} s)")
    print(f"  multiarc-install                   {multiarc:7.1f} s")
    print(f"    controller: preflight, verify, extract  {median(trials, 'controller_s'):6.1f} s")
    print(f"    playbook: transfer, roles, summary      {median(trials, 'playbook_s'):6.1f} s")
    print(f"  orchestration overhead             {multiarc - plain:+7.1f} s")
    print(
        f"  ratio multiarc / plain             {ratio:7.2f}x  goal <= {RATIO_GOAL}x  "
        f"{'MET' if ok_ratio else 'MISSED'}"
    )
    changed = ",".join(str(t.rerun_changed) for t in trials)
    print(
        f"  idempotent re-run                  {rerun:7.1f} s   goal <= {RERUN_GOAL_S:g} s  "
        f"{'MET' if ok_rerun else 'MISSED'} (changed={changed})"
    )
    print(f"  re-run / plain                     {rerun / plain:7.2f}x")
    return ok_ratio and ok_rerun


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="trials (fresh nodes each)")
    parser.add_argument("--payload-mb", type=float, default=300.0, help="bundle payload size")
    parser.add_argument("--json", type=Path, help="also write the trials as JSON here")
    parser.add_argument("--show-script", action="store_true", help="print the plain script")
    args = parser.parse_args(argv)
    if args.show_script:
        print(plain_script())
        return 0
    try:
        require_harness()
        command = installer_command()
    except HarnessUnavailable as err:
        print(f"install_speed: cannot run here: {err}", file=sys.stderr)
        return 3
    image = build_image()
    workdir = Path(tempfile.mkdtemp(prefix="ma-bench-", dir="/tmp"))
    harness = Harness(workdir, workdir / "lower", make_key(workdir), command)
    try:
        harness.tmp.mkdir()
        unpack_image(image, harness.lower)
        print(f"bundle: building or reusing the {args.payload_mb:g} MB fixture bundle ...")
        tree, archive = bundle_archive(args.payload_mb, workdir)
        packages = len(list(tree.rglob("*.deb")))
        shutil.rmtree(tree.parent, ignore_errors=True)
        trials = []
        for number in range(args.repeat):
            trial = one_trial(harness, archive, number)
            trials.append(trial)
            print(
                f"trial {number + 1}: plain {trial.plain_s:.1f} s, multiarc "
                f"{trial.multiarc_s:.1f} s (controller {trial.controller_s:.1f} s), "
                f"re-run {trial.rerun_s:.1f} s (changed {trial.rerun_changed})",
                flush=True,
            )
        met = report(trials, packages, args.payload_mb, archive)
        if args.json:
            args.json.write_text(json.dumps([asdict(t) for t in trials], indent=2))
        return 0 if met else 1
    finally:
        harness.close()


if __name__ == "__main__":
    sys.exit(main())
