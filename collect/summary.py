"""summary.txt: what a support engineer reads first, with the same totals the console prints."""

from __future__ import annotations

import re
from dataclasses import dataclass

from multiarc.collect import bkc, probes
from multiarc.collect.context import Context
from multiarc.collect.spec import ItemResult, Status

import multiarc

_SYCL_GPU = re.compile(r"^\[level_zero:gpu\]", re.MULTILINE)
_XPU_SMI_DEVICE = re.compile(r"^\|\s*\d+\s*\|\s*Device Name:", re.MULTILINE)


@dataclass(frozen=True)
class SummaryFacts:
    host: str
    created: str
    redact: bool
    rows: list[tuple[str, str]]
    since: bkc.InstallTime | None


def dmesg_text(results: list[ItemResult]) -> str | None:
    """The kernel log as collected (plus the firmware lines of the whole log when dmesg.txt
    is limited by --since-install); None when it could not be read."""
    texts = [
        r.data.decode(errors="replace")
        for r in results
        if r.name in ("kernel/dmesg.txt", "kernel/dmesg-firmware-lines.txt")
        and r.status == Status.OK
    ]
    return "".join(texts) if texts else None


def tool_gpu_counts(results: list[ItemResult]) -> str:
    """Level Zero GPUs in sycl-ls and devices in xpu-smi discovery, as collected."""
    found = {r.name: r for r in results}
    parts = []
    for name, label, pattern in (
        ("gpu/sycl-ls.txt", "sycl-ls level_zero", _SYCL_GPU),
        ("gpu/xpu-smi-discovery.txt", "xpu-smi discovery", _XPU_SMI_DEVICE),
    ):
        r = found.get(name)
        if r is None or r.status != Status.OK:
            parts.append(f"{label} n/a ({r.status if r else 'not run'})")
        else:
            parts.append(f"{label} {len(pattern.findall(r.data.decode(errors='replace')))}")
    return ", ".join(parts)


def status_counts(results: list[ItemResult]) -> dict[Status, int]:
    """Per status, the number of entries: the one count the console and summary.txt print."""
    return {s: sum(1 for r in results if r.status == s) for s in Status}


def counts_line(counts: dict[Status, int] | dict[str, int]) -> str:
    """"75 items: 38 ok, 3 failed, ...": the same words on the console and in summary.txt."""
    return f"{sum(counts.values())} items: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def _since_note(ctx: Context, since: bkc.InstallTime | None) -> str | None:
    if not ctx.since_install:
        return None
    if since is None:
        return "--since-install: no install recorded in state.json, so the logs are complete"
    return (
        f"Logs since {since.at.isoformat(timespec='seconds')} ({since.source}): dmesg, "
        "journal and install logs"
    )


def _last_evaluation(ctx: Context) -> str:
    last = bkc.last_evaluation(ctx)
    if last is None:
        return "none found"
    if last.recording:
        return (f"{last.verdict} (RECORDING {last.recording}, not this machine; {last.detail}) "
                f"in {last.folder}")
    return f"{last.verdict} ({last.detail}) in {last.folder}"


def render_summary(ctx: Context, facts: SummaryFacts, results: list[ItemResult]) -> str:
    gpus = ctx.intel_gpus()
    bound = sum(1 for g in gpus if g.driver == "xe")
    lines = [
        f"multiarc support archive of {facts.host}, made {facts.created} by "
        f"multiarc-collect-sysinfo {multiarc.__version__}",
        f"Ran as root: {'yes' if ctx.is_root else 'no'}   Redacted: "
        f"{'yes' if facts.redact else 'no'}   (credentials and tokens are always removed)",
        f"Kernel: {probes.kernel_release(ctx.root) or 'unknown'}",
        f"GPUs: {len(gpus)} supported Intel GPU(s) on the PCI bus, {bound} bound to xe"
        + (": " + ", ".join(f"{g.bdf} {g.pci_id} {g.driver or 'no driver'}" for g in gpus)
           if gpus else ""),
        "GPUs seen by the tools: " + tool_gpu_counts(results),
        "Last evaluation: " + _last_evaluation(ctx),
    ]
    note = _since_note(ctx, facts.since)
    lines += [note] if note else []
    lines += ["", "BKC versions (also firmware/bkc_version.csv)"]
    width = max(len(c) for c, _ in facts.rows)
    lines += [f"  {c:<{width}}  {v}" for c, v in facts.rows]
    counts = status_counts(results)
    lines += ["", "Collection: " + counts_line(counts)]
    problems = [r for r in results if r.status != Status.OK]
    for r in sorted(problems, key=lambda r: (str(r.status), r.name)):
        lines.append(f"  {r.status!s:<8} {r.name}: {r.reason}")
    if not ctx.is_root:
        needs = sorted(r.name for r in results if r.needs_root)
        lines += [
            "",
            "Not run as root; these need root to be complete: " + ", ".join(needs),
            "  (run: sudo multiarc-collect-sysinfo)",
        ]
    return "\n".join(lines) + "\n"
