"""How fast a big detail log becomes reports: parse + judge + write every report.

Builds a ~50 MB ``benchmark_detail_log.txt`` in a temporary folder by repeating the tool
sections of the recorded b60x4 log (one environment header, then ze_peer, ze_peak,
matrix_mul_mkl and oneCCL output over and over, as a long soak run would print), then
runs the whole pipeline in a fresh Python process per repetition, so imports count:
read, ``metrics_from_detail_log``, ``judge`` against the recorded reference_perf.csv, and
``benchmark_report.csv``, ``report.json``, ``report.md`` and ``report.html`` with its
plots. Prints each phase (wall and CPU), the best total of the repetitions and MB/s. Goal:
<= 2 s. Then times the command a user runs, ``multiarc-eval report LOG --format csv|html``
(a fresh process: interpreter start and imports included).

With ``--original PATH`` (Intel's ``gen_evaluation_report.py``; it is not in this
repository and must not be committed) it also times that script on the same log
(``python3 PATH LOG REFERENCE OUT.csv``, its own command line) and prints the ratio.

    .venv/bin/python benchmarks/report_speed.py [--size-mb 50] [--repeat 3] [--original PATH]

Nothing is written outside the temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECORDING = REPO / "tests" / "recordings" / "b60x4"
GOAL_S = 2.0


def build_log(target: Path, size_mb: float) -> int:
    """Write a detail log of about ``size_mb`` MB; return the number of repeated runs."""
    from multiarc.evaluation.parsers.detail_log import split_by_tool

    text = (RECORDING / "benchmark_detail_log.txt").read_text()
    first_tool = next(s.start for s in split_by_tool(text) if s.tool == "ze_peer")
    header, body = text[:first_tool], text[first_tool:]
    runs = max(1, int((size_mb * 1_000_000 - len(header)) / len(body)))
    with target.open("w") as f:
        f.write(header)
        for _ in range(runs):
            f.write(body)
    return runs


def worker(log: Path, out: Path) -> None:
    """One measured run, in its own process: print the phases as JSON."""
    phases: dict[str, float] = {}
    cpu: dict[str, float] = {}
    start = mark = time.perf_counter()
    start_cpu = mark_cpu = time.process_time()

    def lap(name: str) -> None:
        nonlocal mark, mark_cpu
        now, now_cpu = time.perf_counter(), time.process_time()
        phases[name], cpu[name] = now - mark, now_cpu - mark_cpu
        mark, mark_cpu = now, now_cpu

    from multiarc.evaluation.extract import metrics_from_detail_log
    from multiarc.evaluation.reference import load_reference
    from multiarc.evaluation.reports.api import (
        build_run_report,
        prepare_html,
        write_report_files,
    )

    from multiarc.devices import lookup

    prepare_html()  # as `multiarc-eval report --format html` does: plots warm up meanwhile
    lap("import")
    text = log.read_bytes().decode("utf-8", errors="replace")
    lap("read")
    metrics, problems = metrics_from_detail_log(text)
    lap("parse")
    reference = load_reference(RECORDING / "reference_perf.csv")
    report = build_run_report(
        metrics=metrics, problems=problems, reference=reference, gpu_model=lookup("e211")
    )
    lap("judge")
    files = write_report_files(out, report, reference, html=True, markdown=True)
    lap("write csv+json+md+html")
    phases["total"] = time.perf_counter() - start
    cpu["total"] = time.process_time() - start_cpu
    print(
        json.dumps(
            {
                "phases": phases,
                "cpu": cpu,
                "metrics": len(metrics),
                "problems": len(problems),
                "files": {f.name: f.stat().st_size for f in files},
            }
        )
    )


def _timed(argv: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process and its children, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok_codes:
        sys.exit(f"{' '.join(argv[:3])}... failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best one counts")
    parser.add_argument("--original", type=Path, help="Intel's gen_evaluation_report.py")
    parser.add_argument("--worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0

    with tempfile.TemporaryDirectory(prefix="multiarc-report-speed-") as tmp:
        log = Path(tmp) / "benchmark_detail_log.txt"
        runs = build_log(log, args.size_mb)
        mb = log.stat().st_size / 1e6
        print(
            f"log: {mb:.1f} MB ({runs} repetitions of the b60x4 tool sections), "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        )
        results = []
        for i in range(max(1, args.repeat)):
            out = Path(tmp) / f"run{i}"
            wall, cpu, stdout = _timed([sys.executable, __file__, "--worker", str(log), str(out)])
            results.append((wall, cpu, json.loads(stdout)))
        wall, cpu, best = min(results, key=lambda r: r[2]["phases"]["total"])
        print(
            f"metrics: {best['metrics']}, problems: {best['problems']}, files: "
            + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in best["files"].items())
        )
        print(f"  {'phase':<24} {'wall':>6}   {'CPU':>6} (this process)")
        for name, seconds in best["phases"].items():
            print(f"  {name:<24} {seconds:6.2f} s {best['cpu'][name]:6.2f} s")
        total = best["phases"]["total"]
        print(
            f"ours: {total:.2f} s in-process (best of {len(results)}), {mb / total:.0f} MB/s; "
            f"process wall {wall:.2f} s, CPU {cpu:.2f} s (incl. the plot process); "
            f"goal <= {GOAL_S:.1f} s: {'met' if total <= GOAL_S else 'NOT met'}"
        )
        # The command a user runs: a fresh process, imports and all (csv and html pages).
        cli = Path(sys.executable).parent / "multiarc-eval"
        reference = RECORDING / "reference_perf.csv"
        command_wall: dict[str, float] = {}
        for fmt in ("csv", "html"):
            walls = []
            for _ in range(max(1, args.repeat)):
                argv = [str(cli), "report", str(log), "--reference", str(reference),
                        "--format", fmt, "--output", str(Path(tmp) / f"cli.{fmt}")]
                walls.append(_timed(argv, ok_codes=(0, 1))[0])
            command_wall[fmt] = min(walls)
            print(
                f"command: multiarc-eval report LOG --format {fmt}: {min(walls):.2f} s process "
                f"wall (best of {len(walls)}), {mb / min(walls):.0f} MB/s"
            )
        if args.original is None:
            print("original: not measured (pass --original PATH/gen_evaluation_report.py)")
            return 0
        if not args.original.is_file():
            print(f"original: {args.original} does not exist", file=sys.stderr)
            return 2
        timings = []
        for _ in range(max(1, args.repeat)):
            timings.append(
                _timed(
                    [
                        sys.executable,
                        str(args.original),
                        str(log),
                        str(RECORDING / "reference_perf.csv"),
                        str(Path(tmp) / "original_report.csv"),
                    ]
                )[:2]
            )
        orig_wall, orig_cpu = min(timings)
        print(
            f"original: {orig_wall:.2f} s process wall (best of {len(timings)}), CPU "
            f"{orig_cpu:.2f} s, {mb / orig_wall:.0f} MB/s; it writes only the 5-column CSV"
        )
        print(
            "ratio ours/original, same job (log -> CSV report, fresh process, wall): "
            f"{command_wall['csv'] / orig_wall:.2f}; whole pipeline (CSV+JSON+MD+HTML with "
            f"plots) vs the original's CSV: {wall / orig_wall:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
