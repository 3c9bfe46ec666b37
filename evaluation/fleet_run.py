"""``multiarc-eval basic|quick --inventory``: the tools on every host through Ansible.

The controller reads the inventory with Ansible's own InventoryManager (``--limit`` is
Ansible's pattern syntax), builds the step plan for each possible GPU count, and runs the
collection's ``eval.yml`` through ansible-runner (``--forks`` is Ansible's). Each node runs
the fact commands and the plan for the GPUs it has (module ``multiarc_eval_steps``) and
its run folder is fetched to ``results/<ts>/hosts/<host>/``; then the controller parses
and judges each host with the single-host code (fleet_host.py) and writes the fleet
report (fleet_report.py). Unreachable hosts and hosts that fail before results are
reported with the reason Ansible gave; the others complete.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from multiarc.collection import COLLECTION_ROOT
from multiarc.evaluation import checks as checks_mod
from rich.console import Console

from multiarc import fleet, paths
from multiarc.errors import InputError

from . import replay_shim
from .fleet_confirm import merge_repeats, repeats_by_host, replay_calls
from .fleet_host import HostOutcome, JudgeOptions, judge_host
from .fleet_judging import JUDGE_WORKERS, Judging
from .fleet_perfmode import add_performance, said_performance
from .replay import STANDARD_TOOLS, load_recording
from .reports import plot_worker
from .run_writer import RUN_NAME_FORMAT
from .runner import SETVARS_SCRIPT, SETVARS_TIMEOUT_S, SHELL_NOISE
from .steps import BENCHMARK_ENV, StepSpec, log_name, plan_steps

PLAYBOOK = COLLECTION_ROOT / "playbooks" / "eval.yml"
ABORT_PLAYBOOK = COLLECTION_ROOT / "playbooks" / "eval_abort.yml"
RUN_DIR_MARK = Path("/multiarc-run-dir")  # the node's run folder in the plans' commands
MAX_GPUS = 8
INTERRUPTED_EXIT = 130
# Files the checks read on a live node (under /), copied back with the raw logs as sysfs
# lays them out (links kept as links: the topology is read from the device links).
PROBE_GLOBS = [
    "proc/cmdline",
    "proc/sys/kernel/osrelease",
    "etc/os-release",
    "sys/bus/pci/devices/*/vendor",
    "sys/bus/pci/devices/*/device",
    "sys/bus/pci/devices/*/class",
    "sys/bus/pci/devices/*/current_link_speed",
    "sys/bus/pci/devices/*/current_link_width",
    "sys/bus/pci/devices/*/max_link_speed",
    "sys/bus/pci/devices/*/max_link_width",
    "sys/bus/pci/devices/*/numa_node",
    "sys/bus/pci/devices/*/resource",  # the BAR sizes
    "sys/bus/pci/devices/*/driver",  # a link: the driver's name (xe-bound GPUs)
    "sys/class/drm/card*/device/tile0/gt0/freq0/*_freq",  # the card links, the frequencies
    "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
    "sys/module/xe/version",
    "var/lib/multiarc/state.json",
    "var/lib/multiarc/node-state.json",
    "opt/intel/oneapi/setvars.sh",
    "sys/kernel/debug/dri/*/gt0/uc/*_info",
]


@dataclass
class FleetOptions:
    """What ``basic``/``quick --inventory`` was asked for."""

    inventory: Path
    output: Path
    limit: str | None = None
    forks: int = 5
    quick: bool = False
    replay: Path | None = None  # recording for hosts without multiarc_replay
    devices: str | None = None
    pairs: str = "0-1"
    timeout_scale: float = 1.0
    skip_ccl: bool = False
    judge: JudgeOptions = field(default_factory=JudgeOptions)
    confirm: int = 0  # repeats of a step whose figure FAILs (fleet_confirm.py)
    performance_mode: bool = False  # perfmode.py, run on each node around its steps


@dataclass
class InventoryHost:
    name: str
    recording: Path | None


def read_inventory(path: Path, limit: str | None) -> list[InventoryHost]:
    """The hosts Ansible would run on, each with the recording its ``multiarc_replay`` names."""
    found = []
    for host in fleet.read_inventory(path, limit):
        value = host.variables.get("multiarc_replay")
        recording = None
        if value:
            recording = Path(str(value))
            if not recording.is_absolute():
                recording = (path.parent / recording).resolve()
            load_recording(recording)  # exit 2 naming it when it is not a recording
        found.append(InventoryHost(host.name, recording))
    return found


def _spec_dict(spec: StepSpec, index: int, total: int, run_dir: Path) -> dict[str, Any]:
    mark = str(run_dir)
    return {
        "name": spec.name,
        "argv": [a.replace(mark, "{run_dir}") for a in spec.argv],
        "timeout_s": spec.timeout_s,
        "log": log_name(index, total, spec.name),
        "needs_spv": spec.needs_spv,
        "env": {**BENCHMARK_ENV, **spec.extra_env},
    }


def build_plans(opts: FleetOptions) -> tuple[dict[str, list[dict[str, Any]]], dict[str, StepSpec]]:
    """Step plans by GPU count (the node picks its own) and every step by name."""
    from .steps import parse_devices, parse_pairs

    marker = RUN_DIR_MARK
    plans: dict[str, list[dict[str, Any]]] = {}
    specs: dict[str, StepSpec] = {}
    if opts.quick:
        return plans, specs
    for count in range(1, MAX_GPUS + 1):
        try:
            devices = parse_devices(opts.devices, count)
            pairs = parse_pairs(opts.pairs, count)
        except InputError:
            continue
        if any(n >= count for n in devices or []) or any(
            n >= count for p in pairs for n in p if count >= 2
        ):
            continue  # the node will report the GPU count it has; no plan fits
        made = plan_steps(
            gpu_count=count,
            run_dir=marker,
            devices=devices,
            pairs=pairs,
            timeout_scale=opts.timeout_scale,
            skip_ccl=opts.skip_ccl,
        )
        plans[str(count)] = [_spec_dict(s, i + 1, len(made), marker) for i, s in enumerate(made)]
        for spec in made:
            csv = spec.csv_name
            specs[spec.name] = dataclasses.replace(spec, csv_name=csv)
    return plans, specs


def _events(console: Console, judging: Judging) -> fleet.HostEvents:
    def say(text: str) -> None:
        console.print(text, highlight=False)

    def on_ok(host: str, data: dict[str, Any], result: dict[str, Any]) -> None:
        action = str(data.get("task_action", ""))
        if action.endswith("eval_steps"):
            say(f"{host}: tools done, {result.get('steps', 0)} step(s)")
            for line in said_performance(result):
                say(f"{host}: {line}")
        elif action.endswith("fetch"):
            judging.arrived(host)  # judged here while the other hosts still run

    return fleet.HostEvents(say, on_ok)


def run_fleet(console: Console, opts: FleetOptions) -> int:
    """The whole fleet run; its exit code (see fleet_report.exit_code)."""
    from .fleet_report import write_fleet_report

    hosts = read_inventory(opts.inventory, opts.limit)
    plans, specs = build_plans(opts)
    if not opts.quick and not plans:
        raise InputError("--devices/--pairs fit no GPU count", "use GPU numbers below 8, or all")
    stamp = datetime.now().strftime(RUN_NAME_FORMAT)
    folder = opts.output.absolute() / stamp
    hosts_dir = folder / "hosts"
    hosts_dir.mkdir(parents=True, exist_ok=False)
    console.print(
        f"fleet run folder: {folder} ({len(hosts)} host(s), forks {opts.forks})", highlight=False
    )
    recordings = {h.name: h.recording or opts.replay for h in hosts}
    judging = Judging(folder, recordings, specs, opts.judge)
    extravars: dict[str, Any] = {
        "multiarc_run_id": secrets.token_hex(6),  # this run's private folders on the nodes
        "multiarc_fetch_dir": str(folder / ".fetch"),
        "multiarc_fetch_names": judging.names,  # never the inventory name as a path
        # base64: Ansible would read the shim's braces as templates
        "multiarc_shim_data": base64.b64encode(Path(replay_shim.__file__).read_bytes()).decode(),
        "multiarc_eval": {
            "facts": dict(checks_mod.FACT_COMMANDS),
            "plans": plans,
            "env": {},
            "fact_timeout_s": checks_mod.FACT_TIMEOUT_S,
            "probe_globs": PROBE_GLOBS,
            "tools": list(STANDARD_TOOLS),
            "setvars": {  # sourced on the node as runner.capture_setvars does here
                "path": str(paths.ONEAPI_SETVARS),
                "script": SETVARS_SCRIPT,
                "drop": sorted(SHELL_NOISE),
                "timeout_s": SETVARS_TIMEOUT_S,
            },
        },
    }
    add_performance(extravars, opts, plans)
    events = _events(console, judging)
    started = time.monotonic()
    # the plot workers import matplotlib while the nodes run, once for every host's page
    plots = contextlib.nullcontext() if opts.quick else plot_worker.kept_warm(JUDGE_WORKERS)
    try:
        with plots:
            status = _run_playbook(opts, hosts, recordings, extravars, events)
            if status == "canceled" or events.cancel:
                status = "canceled"
                _abort(console, opts, extravars, judging, _answered(hosts, events))
            playbook_s = time.monotonic() - started
            outcomes = judging.finish([h.name for h in hosts], events)
            if opts.confirm > 0 and status != "canceled" and not events.cancel:
                base = _Round(opts, hosts, recordings, extravars)
                if not _confirm_failures(console, base, outcomes, specs, judging):
                    status = "canceled"
    finally:
        judging.close()
    timing = {"playbook_s": round(playbook_s, 3),  # every host, judging overlapped
              "after_playbook_s": round(time.monotonic() - started - playbook_s, 3)}  # fmt: skip
    return write_fleet_report(
        console, folder, outcomes, interrupted=status == "canceled",
        tolerance=opts.judge.tolerance, timing=timing,
    )  # fmt: skip


def _answered(hosts: list[InventoryHost], events: fleet.HostEvents) -> list[str]:
    """The hosts of a run that were not found unreachable: those an abort can reach."""
    return [h.name for h in hosts if events.reasons.get(h.name, ("", ""))[0] != "unreachable"]


def _abort(
    console: Console,
    opts: FleetOptions,
    extravars: dict[str, Any],
    judging: Judging | None,
    hosts: list[str],
) -> None:
    """After Ctrl-C: each node's run stopped (its settings restored), what it measured
    fetched and judged, its folder removed. A second Ctrl-C stops this too. Only the
    hosts that answered: an unreachable one would cost another SSH timeout for nothing."""
    if not hosts:
        return
    console.print("interrupted: stopping the runs on the nodes, fetching what they measured")

    def on_ok(host: str, data: dict[str, Any], result: dict[str, Any]) -> None:
        if str(data.get("task_action", "")).endswith("fetch") and judging is not None:
            judging.arrived(host)

    events = fleet.HostEvents(lambda text: console.print(f"stopping: {text}"), on_ok)
    keys = ("multiarc_run_id", "multiarc_fetch_dir", "multiarc_fetch_names")
    run = fleet.PlaybookRun(
        ABORT_PLAYBOOK, opts.inventory, hosts, opts.forks,
        {k: extravars[k] for k in keys},
    )  # fmt: skip
    fleet.run_playbook(run, events)


def _run_playbook(
    opts: FleetOptions,
    hosts: list[InventoryHost],
    recordings: dict[str, Path | None],
    extravars: dict[str, Any],
    events: fleet.HostEvents,
) -> str:
    def packed(private: Path) -> dict[str, Any]:
        return _pack_recordings(private, recordings)

    run = fleet.PlaybookRun(
        PLAYBOOK, opts.inventory, [h.name for h in hosts], opts.forks, extravars, packed
    )
    return fleet.run_playbook(run, events)


def _pack_recordings(private: Path, recordings: dict[str, Path | None]) -> dict[str, Any]:
    """Each recording packed once as .tar.gz and sent inline (base64) to the hosts that
    replay it: one module run per node instead of a copy task per file."""
    import tarfile

    data: dict[str, str] = {}
    keys: dict[Path, str] = {}
    for path in sorted({p for p in recordings.values() if p}):
        out = private / f"recording-{len(keys)}.tar.gz"
        with tarfile.open(out, "w:gz", compresslevel=6) as tar:
            tar.add(path, arcname=".")
        keys[path] = str(len(keys))
        data[keys[path]] = base64.b64encode(out.read_bytes()).decode()
    return {
        "multiarc_recording_data": data,
        "multiarc_recordings": {host: keys[path] for host, path in recordings.items() if path},
    }


@dataclass
class _Round:
    """What one more playbook run over (part of) the fleet starts from."""

    opts: FleetOptions
    hosts: list[InventoryHost]
    recordings: dict[str, Path | None]
    extravars: dict[str, Any]


def _confirm_failures(
    console: Console,
    base: _Round,
    outcomes: list[HostOutcome],
    specs: dict[str, StepSpec],
    judging: Judging,
) -> bool:
    """The repeats of --confirm on the hosts with FAIL figures, then those hosts judged
    again (fleet_confirm.py); False when Ctrl-C stopped the repeats."""
    repeats = repeats_by_host(outcomes, specs, base.opts.confirm)
    if not repeats:
        return True
    by_host = {o.host: o for o in outcomes}
    console.print(
        f"confirming: {sum(map(len, repeats.values()))} step(s) with FAIL figures run again "
        f"on {len(repeats)} host(s) (--confirm {base.opts.confirm})",
        highlight=False,
    )
    confirm = {
        host: {
            "plan": [_spec_dict(s, i + 1, len(specs_), RUN_DIR_MARK) for i, s in enumerate(specs_)],
            "replay_calls": replay_calls(folder) if base.recordings.get(host) else {},
        }
        for host, specs_ in repeats.items()
        if (folder := by_host[host].folder) is not None
    }
    fetch = judging.folder / ".fetch-confirm"
    extravars = {
        **base.extravars,
        "multiarc_eval": {**base.extravars["multiarc_eval"], "facts": {}, "probe_globs": []},
        "multiarc_confirm": confirm,
        "multiarc_fetch_dir": str(fetch),
    }
    hosts = [h for h in base.hosts if h.name in confirm]
    events = fleet.HostEvents(lambda text: console.print(text, highlight=False))
    recordings = {h.name: base.recordings.get(h.name) for h in hosts}
    status = _run_playbook(base.opts, hosts, recordings, extravars, events)
    if status == "canceled" or events.cancel:
        # the repeats that came back are merged
        _abort(console, base.opts, extravars, None, _answered(hosts, events))
    every = {**specs, **{s.name: s for specs_ in repeats.values() for s in specs_}}
    try:
        for host in confirm:
            outcome, archive = by_host[host], fetch / f"{judging.names[host]}.tar.gz"
            if outcome.folder is None or not archive.is_file():
                reason = events.reasons.get(host, ("", "no results came back"))[1]
                console.print(f"{host}: repeats not run: {reason}", highlight=False)
                continue
            try:
                merge_repeats(outcome.folder, archive)
                judge_host(outcome, every, base.opts.judge)
            except (OSError, ValueError, KeyError) as err:
                console.print(f"{host}: repeats unreadable: {err}", highlight=False)
    finally:
        shutil.rmtree(fetch, ignore_errors=True)
    return status != "canceled" and not events.cancel
