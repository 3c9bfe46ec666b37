"""The BKC (best known configuration) version table and the facts summary.txt shows.

Rows as Intel's get_bkc_version.sh prints them (``Category,Version``): OS, kernel, GuC/HuC/DMC
firmware from dmesg, oneAPI, then the versions of the packages named in the installed
bundle (its .deb files, grouped by folder) and of ``libze*``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from multiarc.collect import probes
from multiarc.collect.context import Context

_RUN_DIR = re.compile(r"^\d{8}_\d{6}$")
_VERDICT_ORDER = ("FAIL", "WARN", "PASS", "INFO", "SKIP")


def bundle_package_lists(bundle_dir: Path) -> dict[str, list[str]]:
    """Package names per bundle folder ("kernel", "base", "gfxdrv/gpgpu", "tools/xpu-smi"...)."""
    lists: dict[str, list[str]] = {}
    if not bundle_dir.is_dir():
        return lists
    for deb in sorted(bundle_dir.rglob("*.deb")):
        category = str(deb.parent.relative_to(bundle_dir))
        lists.setdefault(category, []).append(deb.name.split("_")[0])
    return lists


def read_state(ctx: Context) -> dict[str, object]:
    try:
        data = json.loads(ctx.path(ctx.state_file).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class InstallTime:
    at: datetime  # timezone-aware
    source: str  # which record of state.json it comes from

    def local(self) -> str:
        """As dmesg --since and journalctl --since read it: local time, to the second."""
        return self.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def last_install(ctx: Context) -> InstallTime | None:
    """When the last multiarc-install run started (state.json), for --since-install."""
    state = read_state(ctx)
    last = state.get("last_run")
    candidates: list[tuple[object, str]] = []
    if isinstance(last, dict):
        result = last.get("result", "?")
        candidates.append(
            (last.get("started_at"), f"start of the last multiarc-install run ({result})")
        )
    candidates.append((state.get("created_at"), "creation of state.json (first install)"))
    for value, source in candidates:
        if not isinstance(value, str):
            continue
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            continue
        return InstallTime(at if at.tzinfo else at.replace(tzinfo=UTC), source)
    return None


StackVersions = tuple[dict[str, list[str]], dict[str, str]]


def stack_versions(ctx: Context) -> StackVersions:
    """The installed bundle's package lists and the versions dpkg has of them (and of
    libze*): the table's slow part (dpkg-query), which needs no collected file."""
    state = read_state(ctx)
    bundle_dir = state.get("bundle_dir")
    lists = bundle_package_lists(ctx.path(str(bundle_dir))) if isinstance(bundle_dir, str) else {}
    wanted = sorted({p for names in lists.values() for p in names})
    admindir = ctx.path("/var/lib/dpkg") if ctx.root != Path("/") else None
    return lists, probes.package_versions([*wanted, "libze*"], admindir=admindir)


def bkc_rows(
    ctx: Context, dmesg_text: str | None, stack: StackVersions | None = None
) -> list[tuple[str, str]]:
    """The rows of get_bkc_version.sh's table; ``stack``: stack_versions(ctx), when it was
    read already (multiarc-collect-sysinfo reads it while the collection runs)."""
    rel = probes.os_release(ctx.root)
    rows: list[tuple[str, str]] = [
        ((rel.id or "OS").capitalize(), rel.version or rel.pretty_name or "Not Found"),
        ("Linux Kernel", probes.kernel_release(ctx.root) or "Not Found"),
    ]
    firmware = probes.firmware_versions_from_dmesg(dmesg_text or "")
    why = "Not Found" if dmesg_text is not None else "Not Found (dmesg not readable)"
    for fw in ("guc", "huc", "dmc"):
        rows.append((f"GPU Firmware ({fw})", firmware.get(fw, why)))
    oneapi = probes.oneapi_version(ctx.root)
    rows.append(("oneapi", f"oneapi-base-toolkit={oneapi or 'Not Installed'}"))
    lists, installed = stack if stack is not None else stack_versions(ctx)
    for category, names in lists.items():
        for i, name in enumerate(names):
            version = installed.get(name, "Not Installed")
            rows.append((category if i == 0 else "", f"{name}={version}"))
    libze = sorted(n for n in installed if n.startswith("libze"))
    for i, name in enumerate(libze):
        rows.append(("libze" if i == 0 else "", f"{name}={installed[name]}"))
    return rows


def last_results_dir(ctx: Context) -> Path | None:
    """The newest ``results/<YYYYmmdd_HHMMSS>/`` folder among the known results folders."""
    runs: list[Path] = []
    for base in ctx.results_dirs:
        folder = base if base.is_absolute() and base.exists() else ctx.path(base)
        try:
            runs += [folder / n for n in os.listdir(folder) if _RUN_DIR.match(n)]
        except OSError:
            continue
    return max(runs, key=lambda p: p.name) if runs else None


@dataclass(frozen=True)
class LastEvaluation:
    folder: Path
    verdict: str
    detail: str
    recording: str | None = None  # a replay: the recording's name, not this machine


def _recording_of(report: dict[str, object]) -> str | None:
    """The recording a replayed run read (multiarc-eval's report.json meta.replay)."""
    meta = report.get("meta")
    replay = meta.get("replay") if isinstance(meta, dict) else report.get("replay")
    if isinstance(replay, dict) and isinstance(replay.get("recording"), str):
        return Path(str(replay["recording"])).name
    return None


def _verdict_of(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip().upper()
    if isinstance(value, dict):
        for key in ("verdict", "status", "result"):
            if isinstance(value.get(key), str):
                return str(value[key]).strip().upper()
    return None


def _counts_of(report: dict[str, object]) -> dict[str, int]:
    """{"PASS": 12, "WARN": 1, ...} from ``counts`` (top level or under ``summary``)."""
    summary = report.get("summary")
    for counts in (
        report.get("counts"),
        summary.get("counts") if isinstance(summary, dict) else None,
    ):
        if isinstance(counts, dict):
            return {
                str(k).upper(): int(v)
                for k, v in counts.items()
                if isinstance(v, int) and not isinstance(v, bool)
            }
    verdicts: list[str] = []
    for key in ("judgements", "metrics", "checks", "results", "rows"):
        entries = report.get(key)
        if isinstance(entries, list):
            verdicts += [v for v in map(_verdict_of, entries) if v]
    return {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}


def _more_reasons(report: dict[str, object]) -> list[str]:
    """What else made the verdict (multiarc-eval's report.json): failed or warned checks,
    reference figures that were not measured, failed steps."""
    reasons = []
    checks = report.get("check_counts")
    if isinstance(checks, dict):
        for verdict in ("FAIL", "WARN"):
            n = checks.get(verdict)
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                reasons.append(f"{n} check(s) {verdict}")
    missing = report.get("missing")
    if isinstance(missing, list) and missing:
        reasons.append(f"{len(missing)} reference figure(s) not measured")
    steps = report.get("steps")
    if isinstance(steps, list):
        failed = [s for s in steps if isinstance(s, dict) and s.get("ok") is False]
        if failed:
            reasons.append(f"{len(failed)} step(s) failed")
    return reasons


def _rank(verdict: str) -> int:
    return _VERDICT_ORDER.index(verdict) if verdict in _VERDICT_ORDER else len(_VERDICT_ORDER)


def last_evaluation(ctx: Context) -> LastEvaluation | None:
    """Verdict of the newest results folder, read defensively from its report.json: the
    overall verdict if the report states one, else the worst of its counts/entries."""
    folder = last_results_dir(ctx)
    if folder is None:
        return None
    try:
        report = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return LastEvaluation(folder, "unknown", "no readable report.json")
    if not isinstance(report, dict):
        return LastEvaluation(folder, "unknown", "report.json is not an object")
    counts = {v: n for v, n in _counts_of(report).items() if n > 0}
    detail = ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda i: _rank(i[0])))
    detail = ", ".join(x for x in (detail, *_more_reasons(report)) if x)
    recording = _recording_of(report)
    for key in ("overall_verdict", "overall", "verdict", "status", "result"):
        verdict = _verdict_of(report.get(key))
        if verdict:
            return LastEvaluation(folder, verdict, detail or f"report.json {key}", recording)
    if not counts:
        return LastEvaluation(folder, "unknown", "report.json holds no verdicts", recording)
    return LastEvaluation(folder, min(counts, key=_rank), detail, recording)


def bkc_csv(rows: list[tuple[str, str]]) -> str:
    """The table as get_bkc_version.sh prints it: ``Category,Version`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("Category", "Version"))
    writer.writerows(rows)
    return buffer.getvalue()
