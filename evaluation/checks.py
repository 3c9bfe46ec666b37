"""Device and system checks of ``multiarc-eval quick`` (and the start of ``basic``).

Two halves: :func:`gather_facts` (facts.py) runs the few read-only tools (``lspci``, ``sycl-ls``,
``xpu-smi discovery``, ``dmesg``) and reads the probes under ``root``; the checks are pure
functions of those :class:`Facts`, each returning one
:class:`~multiarc.evaluation.model.CheckResult` with a one-line reason and what to do.
"""

from __future__ import annotations

from collections.abc import Callable

from multiarc.evaluation.model import CheckResult, Status

from multiarc import paths
from multiarc.kernel_params import required_value

from .checks_pcie import _fact_of
from .checks_pcie import check_bar_size as check_bar_size
from .checks_pcie import check_pcie_link as check_pcie_link
from .facts import FACT_COMMANDS as FACT_COMMANDS
from .facts import FACT_TIMEOUT_S as FACT_TIMEOUT_S
from .facts import Facts as Facts
from .facts import _why, kernel_log, level_zero_gpu_count
from .facts import gather_facts as gather_facts
from .facts import gpu_model as gpu_model
from .facts import lspci_gpu_bdfs as lspci_gpu_bdfs
from .facts import read_probes as read_probes
from .facts import software_gpu_count as software_gpu_count
from .facts import xpu_smi_gpu_count as xpu_smi_gpu_count


def check_gpu_count(facts: Facts) -> CheckResult:
    """lspci, sysfs (xe bound), sycl-ls (Level Zero) and xpu-smi must see the same GPUs."""
    on_bus = lspci_gpu_bdfs(facts)
    bound = sorted(g.bdf for g in facts.sysfs_gpus if g.driver == "xe")
    unbound = sorted(g.bdf for g in facts.sysfs_gpus if g.driver != "xe")
    counts: dict[str, int | None] = {
        "lspci": None if on_bus is None else len(on_bus),
        "xe (sysfs)": len(bound) if facts.sysfs_gpus or on_bus is not None else None,
        "sycl-ls": level_zero_gpu_count(facts),
        "xpu-smi": xpu_smi_gpu_count(facts),
    }
    shown = ", ".join(f"{k} {'n/a' if v is None else v}" for k, v in counts.items())
    details: dict[str, object] = {"counts": counts, "xe_bound": bound, "not_bound": unbound}
    known = {k: v for k, v in counts.items() if v is not None}
    missing = [k for k, v in counts.items() if v is None]
    if not known or max(known.values()) == 0:
        return CheckResult(
            "gpu-count",
            Status.FAIL,
            f"no supported Intel GPU found ({shown})",
            "check the cards are seated and powered; lspci -nn | grep 8086",
            details,
        )
    most = max(known.values())
    behind = [k for k, v in known.items() if v < most]
    if not behind:
        if missing:
            why = "; ".join(
                f"{k}: {_why(facts.tools.get(_fact_of(k)))}" for k in missing if _fact_of(k)
            )
            return CheckResult(
                "gpu-count",
                Status.WARN,
                f"{most} GPUs were counted ({shown}); {why}",
                "install/enable the missing tool (oneAPI setvars.sh for sycl-ls, "
                "xpu-smi package) to cross-check",
                details,
            )
        return CheckResult(
            "gpu-count", Status.PASS, f"{most} GPUs seen by all ({shown})", details=details
        )
    reason = f"sources disagree: {shown}"
    hints: list[str] = []
    log = kernel_log(facts)
    if counts["xe (sysfs)"] is not None and counts["xe (sysfs)"] < most:
        errors = []
        if log is not None:
            errors = [e for e in log.errors if e.bdf in unbound]
        if errors:
            first = {e.bdf: e.message for e in errors}
            where = "; ".join(f"{bdf}: {msg}" for bdf, msg in first.items())
            hints.append(f"xe failed to probe {', '.join(unbound)} (dmesg: {where})")
        else:
            hints.append(
                f"xe is not bound to {', '.join(unbound) or 'some GPUs'}: "
                "see `dmesg | grep xe` (firmware, probe errors)"
            )
    elif counts["sycl-ls"] is not None and counts["sycl-ls"] < most:
        mask = facts.environ.get("ZE_AFFINITY_MASK") or facts.environ.get("ONEAPI_DEVICE_SELECTOR")
        hints.append(
            "Level Zero sees fewer GPUs than the driver: "
            + (f"ZE_AFFINITY_MASK/ONEAPI_DEVICE_SELECTOR is set ({mask}); " if mask else "")
            + "check the compute runtime (libze-intel-gpu1) and membership of the "
            "render group"
        )
    elif counts["xpu-smi"] is not None and counts["xpu-smi"] < most:
        hints.append(
            "xpu-smi sees fewer GPUs: restart xpum (systemctl restart xpum) or "
            "check the xpu-smi version matches the driver"
        )
    if not hints:
        hints.append(f"{', '.join(behind)} see fewer GPUs than the others")
    return CheckResult("gpu-count", Status.FAIL, reason, "; ".join(hints), details)


def check_iommu(facts: Facts) -> CheckResult:
    if not facts.cmdline:
        return CheckResult("iommu", Status.SKIP, "kernel command line not readable", "")
    wanted = f"intel_iommu={required_value('intel_iommu') or 'off'}"  # multiarc/kernel_params
    values = [p.split("=", 1)[1] for p in facts.cmdline if p.startswith("intel_iommu=")]
    hint = (
        f"multiarc-install adds it (grub role); or add {wanted} to "
        "GRUB_CMDLINE_LINUX_DEFAULT, update-grub, reboot"
    )
    if values and f"intel_iommu={values[-1]}" == wanted:
        return CheckResult("iommu", Status.PASS, f"{wanted} is active (/proc/cmdline)")
    if values:
        return CheckResult(
            "iommu",
            Status.FAIL,
            f"intel_iommu={values[-1]} is active; the validated setup runs with {wanted}",
            hint,
        )
    return CheckResult("iommu", Status.FAIL, f"{wanted} is not on the kernel command line", hint)


def check_kernel(facts: Facts) -> CheckResult:
    if not facts.kernel:
        return CheckResult("kernel", Status.SKIP, "running kernel release not readable")
    log = kernel_log(facts)
    booted = log.kernel_release if log is not None else ""
    details = {"running": facts.kernel, "target": facts.target_kernel, "dmesg": booted}
    if facts.target_kernel and facts.target_kernel != facts.kernel:
        return CheckResult(
            "kernel",
            Status.WARN,
            f"running {facts.kernel}, multiarc-install installed {facts.target_kernel}",
            "reboot into the installed kernel (it is the GRUB default)",
            details,
        )
    if facts.target_kernel:
        return CheckResult(
            "kernel", Status.PASS, f"running {facts.kernel}, the installed kernel", details=details
        )
    return CheckResult(
        "kernel",
        Status.PASS,
        f"running {facts.kernel} (no multiarc-install state to compare with)",
        details=details,
    )


def check_firmware(facts: Facts) -> CheckResult:
    """GuC/HuC (and DMC) loaded on every GPU, one version each; probe/load errors fail."""
    log = kernel_log(facts)
    if log is None:
        return CheckResult(
            "firmware",
            Status.SKIP,
            f"dmesg not readable ({_why(facts.tools.get('dmesg'))})",
            "run as root, or sysctl kernel.dmesg_restrict=0",
        )
    gpus = sorted({g.bdf for g in facts.sysfs_gpus} | set(lspci_gpu_bdfs(facts) or []))
    versions = {kind: log.versions(kind) for kind in ("GuC", "HuC", "DMC")}
    shown = ", ".join(f"{k} {'/'.join(v)}" for k, v in versions.items() if v) or "none"
    details: dict[str, object] = {"versions": versions, "errors": [e.message for e in log.errors]}
    gpu_errors = [e for e in log.errors if not gpus or e.bdf in gpus]
    if gpu_errors:
        first = "; ".join(f"{e.bdf}: {e.message}" for e in gpu_errors[:3])
        return CheckResult(
            "firmware",
            Status.FAIL,
            f"xe errors in dmesg: {first}",
            "check /lib/firmware/xe holds the bundle's bmg_guc_70/bmg_huc "
            "(multiarc-install --only firmware), update-initramfs -u, reboot",
            details,
        )
    missing = [
        bdf for bdf in gpus if not any(f.kind == "GuC" and f.bdf == bdf for f in log.firmware)
    ]
    if not versions["GuC"]:
        return CheckResult(
            "firmware",
            Status.WARN,
            "no GuC/HuC load messages in dmesg",
            "the boot messages may have rotated out; check `dmesg | grep xe`",
            details,
        )
    if missing or len(versions["GuC"]) > 1 or len(versions["HuC"]) > 1:
        why = f"GuC not reported for {', '.join(missing)}" if missing else "versions differ"
        return CheckResult(
            "firmware",
            Status.WARN,
            f"{why}: {shown}",
            "all GPUs should load the same firmware; check /lib/firmware/xe",
            details,
        )
    return CheckResult(
        "firmware", Status.PASS, f"{shown} on {len(gpus) or 'all'} GPUs", details=details
    )


def check_oneapi(facts: Facts) -> CheckResult:
    where = paths.ONEAPI_SETVARS
    if facts.setvars_present:
        version = f" (Base Toolkit {facts.oneapi_version})" if facts.oneapi_version else ""
        return CheckResult("oneapi", Status.PASS, f"{where} present{version}")
    return CheckResult(
        "oneapi",
        Status.FAIL,
        f"{where} not found",
        "install the oneAPI Base Toolkit (multiarc-install --only oneapi)",
    )


from multiarc.evaluation.topology_check import check_topology  # noqa: E402 (uses Facts)

CHECKS: tuple[Callable[[Facts], CheckResult], ...] = (
    check_gpu_count,
    check_pcie_link,
    check_bar_size,
    check_iommu,
    check_kernel,
    check_firmware,
    check_oneapi,
    check_topology,
)


def run_checks(facts: Facts) -> list[CheckResult]:
    """Every check; a check that breaks becomes a FAIL naming the bug, never a crash."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(facts))
        except Exception as err:  # a bug in one check must not hide the others
            name = check.__name__.removeprefix("check_").replace("_", "-")
            results.append(
                CheckResult(
                    name,
                    Status.FAIL,
                    f"internal error in the check ({type(err).__name__}: {err})",
                    "please report this",
                )
            )
    return results


def any_failed(checks: list[CheckResult]) -> bool:
    return any(c.status == Status.FAIL for c in checks)


def environment_not_ready(facts: Facts) -> str | None:
    """Why nothing can be evaluated here (no lspci, no Intel GPU at all), or None."""
    lspci = facts.tools.get("lspci_nn")
    if lspci is not None and lspci.exit_code is None and "not found" in lspci.error:
        return "lspci is not installed (package pciutils)"
    if not lspci_gpu_bdfs(facts) and not facts.sysfs_gpus:
        return "no supported Intel GPU on this machine (lspci and sysfs show none)"
    return None
