"""The BKC (best known configuration) version table and the facts summary.txt shows.

Rows as Intel's get_bkc_version.sh prints them (``Category,Version``): OS, kernel, GuC/HuC/DMC
firmware from dmesg, oneAPI, then the versions of the packages named in the installed
bundle (its .deb files, grouped by folder) and of ``libze*``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
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


def bkc_rows(ctx: Context, dmesg_text: str | None) -> list[tuple[str, str]]:
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
    state = read_state(ctx)
    bundle_dir = state.get("bundle_dir")
    lists = bundle_package_lists(ctx.path(str(bundle_dir))) if isinstance(bundle_dir, str) else {}
    wanted = sorted({p for names in lists.values() for p in names})
    admindir = ctx.path("/var/lib/dpkg") if ctx.root != Path("/") else None
    installed = probes.package_versions([*wanted, "libze*"], admindir=admindir)
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


def last_evaluation(ctx: Context) -> LastEvaluation | None:
    folder = last_results_dir(ctx)
    if folder is None:
        return None
    try:
        report = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return LastEvaluation(folder, "unknown", "no readable report.json")
    verdicts: list[str] = []
    if isinstance(report, dict):
        for key in ("verdict", "overall", "status"):
            if isinstance(report.get(key), str):
                return LastEvaluation(folder, report[key].upper(), f"report.json {key}")
        for key in ("judgements", "metrics", "checks", "results"):
            for entry in report.get(key) or []:
                if isinstance(entry, dict) and isinstance(entry.get("verdict"), str):
                    verdicts.append(entry["verdict"].upper())
                elif isinstance(entry, dict) and isinstance(entry.get("status"), str):
                    verdicts.append(entry["status"].upper())
    if not verdicts:
        return LastEvaluation(folder, "unknown", "report.json holds no verdicts")
    worst = min(verdicts, key=lambda v: _VERDICT_ORDER.index(v) if v in _VERDICT_ORDER else 9)
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in _VERDICT_ORDER if v in verdicts)
    return LastEvaluation(folder, worst, counts)
