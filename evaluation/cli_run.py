"""``multiarc-eval quick`` and ``multiarc-eval basic``: their command lines.

``quick`` runs the device checks only (seconds). ``basic`` runs them, then every step of
Intel's platform_basic_evaluation.sh with the same command lines and environment, each
with its own timeout and raw log, and writes the run folder and the reports
(basic_run.py does the run; target.py finds the machine or the recording).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from multiarc.evaluation import checks as checks_mod

from multiarc.errors import EnvironmentNotReady, InputError, reports_errors

from .basic_run import BasicOptions, default_reference, run_basic
from .confirm import DEFAULT_CONFIRM
from .live import checks_line, checks_table
from .run_writer import check_output_folder
from .steps import parse_devices, parse_pairs

if TYPE_CHECKING:
    from .fleet_run import FleetOptions
from .target import exit_with, make_console, not_ready, open_target, say_recording

QUICK_EPILOG = """\b
Examples:
  multiarc-eval quick
  multiarc-eval quick --json > checks.json
  multiarc-eval quick --replay tests/recordings/b60x4-two-visible   # a RECORDING

\b
Exit codes: 0 no check FAILed (WARN allowed), 1 a check FAILed,
2 usage error, 3 no supported Intel GPU or no lspci (environment not ready).
"""

BASIC_EPILOG = """\b
Examples:
  multiarc-eval basic                              # Intel's steps, GPU 0 and pair 0-1
  sudo multiarc-eval basic --performance-mode --devices all --pairs all
  multiarc-eval basic --reference reference_perf.csv --tolerance 5
  multiarc-eval basic --replay tests/recordings/b60x4 --output /tmp/results

\b
Writes results/<YYYYmmdd_HHMMSS>/: steps/NN-<step>.log (one raw log per step),
benchmark_detail_log.txt (the original's order and content), steps.json,
checks.json, meta.json, the oneCCL CSVs, benchmark_report.csv, report.json,
report.html. Re-judge later with `multiarc-eval report`.

\b
Exit codes: 0 all pass (WARN allowed), 1 a check, step or metric FAILed
(a crashed or timed-out tool, a figure below tolerance or above the peak, a
reference figure not measured), 2 usage or input error (bad option, malformed
reference CSV: nothing runs), 3 environment not ready (no GPU, tools missing,
not root for --performance-mode), 130 interrupted (settings restored).
"""


F = TypeVar("F", bound=Callable[..., Any])

_FLEET_OPTIONS = (
    click.option(
        "--inventory",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Run on every host of this Ansible inventory (fleet mode; see README).",
    ),
    click.option("--limit", metavar="PATTERN", help="Ansible --limit: only these hosts/groups."),
    click.option(
        "--forks", type=click.IntRange(1, 500), default=5, show_default=True,
        help="Ansible --forks: hosts run in parallel.",
    ),
)


def fleet_options(func: F) -> F:
    """--inventory, --limit and --forks, the same on quick and basic."""
    for option in reversed(_FLEET_OPTIONS):
        func = option(func)
    return func


@click.command("quick", epilog=QUICK_EPILOG)
@click.option(
    "--replay",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Replay a recorded host (e.g. tests/recordings/b60x4) instead of this machine.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("results"),
    show_default=True,
    help="With --inventory: folder for the fleet run folder <YYYYmmdd_HHMMSS>/.",
)
@fleet_options
@reports_errors
def quick(
    replay: Path | None,
    as_json: bool,
    output: Path,
    inventory: Path | None,
    limit: str | None,
    forks: int,
) -> None:
    """Device checks only, in seconds: GPU count (lspci, xe, sycl-ls, xpu-smi), PCIe link,
    BAR size, intel_iommu=off, kernel, GuC/HuC firmware, oneAPI. Each check is PASS, WARN,
    FAIL or SKIP with a one-line reason and what to do.
    """
    if inventory is not None:
        from .fleet_run import FleetOptions

        _fleet(FleetOptions(inventory, output, limit, forks, quick=True, replay=replay))
    _no_fleet_options(limit)
    console = make_console()
    with open_target(replay) as target:
        facts = checks_mod.gather_facts(target.root, target.env)
        not_ready(facts)
        results = checks_mod.run_checks(facts)
    failed = checks_mod.any_failed(results)
    if as_json:
        data = {
            "target": target.label,
            "recording": str(target.recording.path) if target.recording else None,
            "checks": [c.to_dict() for c in results],
            "exit_code": int(failed),
        }
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        say_recording(console, target)
        console.print(checks_table(results, console, title=f"multiarc-eval quick: {target.label}"))
        console.print(checks_line(results), highlight=False)
        if target.recording is not None:  # the last line says it, as README promises
            console.print(f"[bold magenta]{target.recording.banner}[/]")
    exit_with(1 if failed else 0)


# ----------------------------------------------------------------------------- basic



@click.command("basic", epilog=BASIC_EPILOG)
@click.option(
    "--replay",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Replay a recorded host (e.g. tests/recordings/b60x4) instead of this machine.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("results"),
    show_default=True,
    help="Folder for the run folder <YYYYmmdd_HHMMSS>/. As root, one another user could"
    " swap for a link (made first by them in /tmp, or writable by all) is refused.",
)
@click.option(
    "--devices",
    metavar="0|0,1|all",
    help="Run ze_peak and the gemm on these GPUs (default: the original's single run).",
)
@click.option(
    "--pairs",
    metavar="0-1|0-1,2-3|all",
    default="0-1",
    show_default=True,
    help="GPU pairs for ze_peer; 'all' is every ordered pair.",
)
@click.option(
    "--timeout-scale",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Multiply every step's timeout (slow hosts > 1; tests < 1).",
)
@click.option(
    "--performance-mode",
    is_flag=True,
    help="CPU governor 'performance' and GPU frequency locked during the run, then restored "
    "(needs root; with --inventory, on each node around its steps).",
)
@click.option(
    "--reference",
    type=click.Path(path_type=Path, dir_okay=False),
    help="reference_perf.csv (default: the installed bundle's, else none: all figures INFO).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 50, max_open=True),
    default=10.0,
    show_default=True,
    metavar="PCT",
    help="PASS within PCT below the reference, WARN within twice PCT, FAIL below that.",
)
@click.option("--skip-ccl", is_flag=True, help="Skip the three oneCCL (mpirun) benchmarks.")
@click.option(
    "--confirm",
    type=click.IntRange(0, 5),
    default=DEFAULT_CONFIRM,
    show_default=True,
    metavar="N",
    help="Run a step whose figure FAILs N more times: passing on a repeat makes it UNSTABLE "
    "(exit 1, reported apart), failing again confirms the FAIL; 0 turns it off.",
)
@click.option(
    "--perf-root",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    hidden=True,
    help="Write performance-mode settings under this root (tests).",
)
@fleet_options
@reports_errors
def basic(
    replay: Path | None,
    output: Path,
    devices: str | None,
    pairs: str,
    timeout_scale: float,
    performance_mode: bool,
    reference: Path | None,
    tolerance: float,
    skip_ccl: bool,
    confirm: int,
    perf_root: Path | None,
    inventory: Path | None,
    limit: str | None,
    forks: int,
) -> None:
    """The quick checks, then every benchmark of Intel's platform_basic_evaluation.sh
    (sycl-ls, xpu-smi, ze_peer, ze_peak, matrix_mul_mkl, oneCCL), each with its own timeout
    and raw log; writes results/<YYYYmmdd_HHMMSS>/ with benchmark_detail_log.txt, steps.json,
    benchmark_report.csv, report.json and report.html. One failing or hanging tool never
    stops the rest.
    """
    from multiarc.evaluation.reference import load_reference

    parse_devices(devices, 0)  # syntax errors are usage errors, before anything runs
    parse_pairs(pairs, 0)
    check_output_folder(output)
    if inventory is not None:
        from .fleet_host import JudgeOptions
        from .fleet_run import FleetOptions

        ref = load_reference(reference) if reference is not None else None
        judge = JudgeOptions(ref, reference, tolerance / 100.0, False, load_reference)
        _fleet(
            FleetOptions(
                inventory, output, limit, forks, replay=replay, devices=devices, pairs=pairs,
                timeout_scale=timeout_scale, skip_ccl=skip_ccl, judge=judge, confirm=confirm,
                performance_mode=performance_mode,
            )
        )
    _no_fleet_options(limit)
    console = make_console()
    previous_term = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        with open_target(replay) as target:
            ref_path = reference if reference is not None else default_reference(target)
            ref = load_reference(ref_path) if ref_path is not None else None
            if performance_mode and target.recording is None and os.geteuid() != 0:
                raise EnvironmentNotReady(
                    "--performance-mode changes CPU governors and GPU frequencies: needs root",
                    "run with sudo, or without --performance-mode",
                )
            options = BasicOptions(
                output=output,
                devices=devices,
                pairs=pairs,
                timeout_scale=timeout_scale,
                performance_mode=performance_mode,
                ref=ref,
                ref_path=ref_path,
                tolerance=tolerance / 100.0,
                skip_ccl=skip_ccl,
                perf_root=perf_root,
                confirm=confirm,
            )
            code = run_basic(console, target, options)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    exit_with(code)


COMMANDS = [quick, basic]


def _fleet(options: FleetOptions) -> None:
    """Fleet mode: every inventory host through Ansible (fleet_run.py); exits."""
    from .fleet_run import run_fleet

    check_output_folder(options.output)
    exit_with(run_fleet(make_console(), options))


def _no_fleet_options(limit: str | None) -> None:
    if limit:
        raise InputError("--limit needs --inventory", "add --inventory rack.ini, or drop --limit")


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
