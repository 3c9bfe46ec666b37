"""Wall time of multiarc-install vs Intel's method vs plain apt, on fresh test roots.

Bundles (``--bundle``):

* ``real`` (default): the bundle of REAL Debian trixie packages in Intel's layout
  (tests/fixtures/real_bundle.py: linux-image 6.12 with its maintainer scripts, Battlemage
  firmware, libze1, the media driver, tools; downloaded once with apt's own tools and
  cached under ~/.cache/multiarc-tests/).
* ``fixture``: the synthetic bundle (tests/fixtures/synthetic_bundle.py): ~40 .deb
  packages shaped like the stack, ~300 MB of payload (``--payload-mb``) and no maintainer
  scripts worth the name; it measures the fixed cost of the orchestration.

Every trial uses fresh nodes: copies of the cached Debian trixie image served by chrooted
sshd on loopback (tests/integration/rootfs.py), so every method reaches its node over SSH,
as on a rack. Methods (``--methods``, all by default, in alternating order per trial):

* intel: what Intel's installer.sh does, as one bash script: copy the archive (scp),
  unpack it, ``dpkg -i`` the kernel, GRUB_DEFAULT and the kernel command line (overwritten,
  as the original does) + ``update-grub``, the firmware blobs + ``update-initramfs``,
  auto-update units masked, AppArmor no-audit, ``dpkg -i`` folder by folder, the oneAPI
  offline installer and the tools layout where the bundle has them. No checks, no state.
* apt: the same script with one ``apt-get install`` of every .deb file instead of the
  ``dpkg -i`` calls (apt orders them and their dependencies itself).
* multiarc: ``multiarc-install --offline BUNDLE --inventory INV --allow-os-override
  --yes`` (bundle verification, extraction, transfer, the playbook, state and summary);
  then the same command again on the same node: the idempotent re-run.

Printed: each method's median, where multiarc's time goes (controller: preflight, verify,
extract; the playbook), the ratios against the goals (multiarc <= 1.3x Intel's method,
re-run <= 10 s) and the playbook's tasks by time, summed from ansible-runner's events of
the first install and of the re-run (``.events.jsonl``).

Run as root: ``.venv/bin/python benchmarks/install_speed.py [--bundle real|fixture]
[--methods intel,apt,multiarc] [--repeat N] [--payload-mb MB]``. Exit status 0 when both
goals are met, 1 otherwise, 3 when the harness or the bundle is unavailable.
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

from tests.fixtures.original_installer import plain_script  # noqa: E402
from tests.fixtures.real_bundle import (  # noqa: E402
    RealBundleUnavailable,
    image_status,
    real_bundle_archive,
)
from tests.fixtures.synthetic_bundle import (  # noqa: E402
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
RERUN_GOAL_S = 10.0
METHODS = ("intel", "apt", "multiarc")

@dataclass
class Trial:
    seconds: dict[str, float] = field(default_factory=dict)  # method -> wall
    copy_s: dict[str, float] = field(default_factory=dict)  # scp of the archive (in wall)
    controller_s: float = 0.0  # multiarc: start to the first task (preflight, verify, extract)
    playbook_s: float = 0.0  # multiarc: first task to the end of the summary
    rerun_s: float = 0.0
    rerun_changed: int = -1
    tasks: dict[str, list[float]] = field(default_factory=dict)  # task -> [count, seconds]
    rerun_tasks: dict[str, list[float]] = field(default_factory=dict)


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


def run_plain(site: Site, archive: Path, method: str) -> tuple[float, float]:
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
        input=plain_script(method),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    ended = time.monotonic()
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip()[-1500:]
        raise RuntimeError(f"{method} method failed (exit {done.returncode}): {said}")
    return ended - started, copied - started


@dataclass
class MultiarcRun:
    wall_s: float
    controller_s: float
    playbook_s: float
    changed: int
    events: Path | None  # ansible-runner's events of the run (.events.jsonl)


def task_seconds(events: Path | None) -> dict[str, list[float]]:
    """Each task's count and summed duration (role : task), from ansible-runner's events."""
    found: dict[str, list[float]] = {}
    if events is None or not events.is_file():
        return found
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") not in ("runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            continue
        data = event.get("event_data") or {}
        name = f"{data.get('role') or '-'} : {data.get('task') or '?'}"
        entry = found.setdefault(name, [0, 0.0])
        entry[0] += 1
        entry[1] += float(data.get("duration") or 0.0)
    return found


def run_multiarc(site: Site, archive: Path) -> MultiarcRun:
    """One multiarc-install: wall, controller phase, playbook phase, changed, events."""
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
        logs = [line.split(":", 1)[1].strip() for line in lines if line.startswith("log:")]
        kept = Path(tempfile.gettempdir()) / "install_speed-failed.log"
        log = _on_controller(site, logs[-1]) if logs else None
        if log is not None:
            shutil.copyfile(log, kept)
        raise RuntimeError(
            f"multiarc-install failed ({proc.returncode}; log kept: {kept}): {output[-1500:]}"
        )
    changed = site.state()["last_run"]["changed"]
    first_task = first_task or ended
    said = [line.split("events:", 1)[1].strip() for line in lines if line.startswith("events:")]
    events = _on_controller(site, said[-1]) if said else None
    return MultiarcRun(ended - started, first_task - started, ended - first_task, int(changed),
                       events)  # fmt: skip


def _on_controller(site: Site, printed: str) -> Path | None:
    """The events file the run printed (under the site's folder when relative)."""
    path = Path(printed)
    path = path if path.is_absolute() else site.folder / path
    return path if path.is_file() else None


def one_trial(harness: Harness, archive: Path, number: int, methods: list[str]) -> Trial:
    trial = Trial()
    order = methods[number % len(methods):] + methods[: number % len(methods)]  # rotate
    for method in order:
        site = new_site(harness, f"{method}{number}")
        try:
            if method != "multiarc":
                trial.seconds[method], trial.copy_s[method] = run_plain(site, archive, method)
                continue
            first = run_multiarc(site, archive)
            trial.seconds[method] = first.wall_s
            trial.controller_s, trial.playbook_s = first.controller_s, first.playbook_s
            trial.tasks = task_seconds(first.events)
            again = run_multiarc(site, archive)
            trial.rerun_s, trial.rerun_changed = again.wall_s, again.changed
            trial.rerun_tasks = task_seconds(again.events)
        finally:
            harness.remove_node(site.node)
    return trial


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(trials: list[Trial], bundle: str, packages: int, archive: Path) -> bool:
    methods = [m for m in METHODS if m in trials[0].seconds]
    walls = {m: median([t.seconds[m] for t in trials]) for m in methods}
    size = archive.stat().st_size / 1e6
    print(f"\ninstall speed, {bundle} bundle: {packages} packages, archive {size:.0f} MB, "
          f"{len(trials)} trial(s) on fresh nodes, medians")  # fmt: skip
    labels = {"intel": "Intel's method (scp + dpkg -i per folder)",
              "apt": "apt (scp + one apt-get install)", "multiarc": "multiarc-install"}  # fmt: skip
    for method in methods:
        copy = median([t.copy_s.get(method, 0.0) for t in trials])
        extra = f"   (scp {copy:.1f} s)" if method != "multiarc" else ""
        print(f"  {labels[method]:<44} {walls[method]:7.1f} s{extra}")
    met = True
    if "multiarc" in walls:
        print(f"    controller: preflight, verify, extract  "
              f"{median([t.controller_s for t in trials]):6.1f} s")  # fmt: skip
        print(f"    playbook: transfer, roles, summary      "
              f"{median([t.playbook_s for t in trials]):6.1f} s")  # fmt: skip
        for base in ("intel", "apt"):
            if base in walls:
                ratio = walls["multiarc"] / walls[base]
                goal = f"  goal <= {RATIO_GOAL}x  {'MET' if ratio <= RATIO_GOAL else 'MISSED'}"
                print(f"  multiarc / {base:<6} {ratio:5.2f}x  (overhead "
                      f"{walls['multiarc'] - walls[base]:+.1f} s){goal if base == 'intel' else ''}")
                met = met and (base != "intel" or ratio <= RATIO_GOAL)
        rerun = median([t.rerun_s for t in trials])
        ok_rerun = rerun <= RERUN_GOAL_S and all(t.rerun_changed == 0 for t in trials)
        changed = ",".join(str(t.rerun_changed) for t in trials)
        print(f"  idempotent re-run {rerun:7.1f} s   goal <= {RERUN_GOAL_S:g} s  "
              f"{'MET' if ok_rerun else 'MISSED'} (changed={changed})")  # fmt: skip
        met = met and ok_rerun
        _task_table([t.tasks for t in trials], "first install")
        _task_table([t.rerun_tasks for t in trials], "idempotent re-run")
    return met


def _task_table(runs: list[dict[str, list[float]]], label: str, rows: int = 15) -> None:
    """One run's tasks by time (median over the trials), from ansible-runner's events."""
    names = {name for tasks in runs for name in tasks}
    if not names:
        return
    seconds = {n: median([t.get(n, [0, 0.0])[1] for t in runs]) for n in names}
    counts = {n: max(int(t.get(n, [0, 0.0])[0]) for t in runs) for n in names}
    total = sum(seconds.values())
    print(f"  the playbook's tasks ({label}, {len(names)} tasks, "
          f"{total:.1f} s summed over hosts):")  # fmt: skip
    for name in sorted(names, key=lambda n: -seconds[n])[:rows]:
        print(f"    {seconds[name]:6.2f} s  x{counts[name]}  {name[:90]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="trials (fresh nodes each)")
    parser.add_argument("--bundle", choices=("real", "fixture"), default="real",
                        help="real Debian trixie packages, or the synthetic fixture")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated, of: " + ", ".join(METHODS))
    parser.add_argument("--payload-mb", type=float, default=300.0,
                        help="fixture bundle payload size")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the trials as JSON here")
    parser.add_argument("--show-script", action="store_true", help="print the plain script")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        parser.error(f"--methods: choose from {', '.join(METHODS)}")
    if args.show_script:
        for method in ("intel", "apt"):
            print(f"# {method}\n{plain_script(method)}")
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
        if args.bundle == "real":
            try:
                tree, archive = real_bundle_archive(image_status(image))
            except RealBundleUnavailable as err:
                print(f"install_speed: no real bundle here: {err}", file=sys.stderr)
                return 3
            packages = len(list(tree.rglob("*.deb")))
        else:
            print(f"bundle: building or reusing the {args.payload_mb:g} MB fixture bundle ...")
            tree, archive = bundle_archive(args.payload_mb, workdir)
            packages = len(list(tree.rglob("*.deb")))
            shutil.rmtree(tree.parent, ignore_errors=True)
        trials = []
        for number in range(args.repeat):
            trial = one_trial(harness, archive, number, methods)
            trials.append(trial)
            walls = ", ".join(f"{m} {s:.1f} s" for m, s in trial.seconds.items())
            rerun = f"; re-run {trial.rerun_s:.1f} s (changed {trial.rerun_changed})"
            print(f"trial {number + 1}: {walls}{rerun if 'multiarc' in methods else ''}",
                  flush=True)  # fmt: skip
        met = report(trials, args.bundle, packages, archive)
        if args.json:
            args.json.write_text(json.dumps([asdict(t) for t in trials], indent=2))
        return 0 if met else 1
    finally:
        harness.close()


if __name__ == "__main__":
    sys.exit(main())
