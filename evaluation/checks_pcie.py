"""The PCIe checks: each GPU's link (speed and width against what the B60 and the slot
can do, an idle link's power-saving report told apart) and its BAR sizes."""

from __future__ import annotations

from dataclasses import dataclass

from multiarc.evaluation.model import CheckResult, Status

from .facts import IDLE_LINK_GTS, Facts, _gpu_details, _gts, gpu_model


def _fact_of(source: str) -> str:
    return {"lspci": "lspci_nn", "sycl-ls": "sycl_ls", "xpu-smi": "xpu_discovery"}.get(source, "")


@dataclass(frozen=True)
class LinkState:
    bdf: str
    speed: float | None
    width: int | None
    cap_speed: float | None
    cap_width: int | None
    source: str  # "lspci" or "sysfs"

    @property
    def text(self) -> str:
        def s(v: float | None) -> str:
            return "?" if v is None else f"{v:g}GT/s"

        return (
            f"{s(self.speed)} x{self.width or '?'} (capable {s(self.cap_speed)} "
            f"x{self.cap_width or '?'})"
        )


def link_states(facts: Facts) -> list[LinkState]:
    """Link state per GPU: lspci -vvv where it shows capabilities, else sysfs."""
    details = _gpu_details(facts)
    states: dict[str, LinkState] = {}
    for bdf, d in details.items():
        if d.link_sta_speed_gts is not None and d.link_cap_speed_gts is not None:
            states[bdf] = LinkState(
                bdf,
                d.link_sta_speed_gts,
                d.link_sta_width,
                d.link_cap_speed_gts,
                d.link_cap_width,
                "lspci",
            )
    for gpu in facts.sysfs_gpus:
        if gpu.bdf in states:
            continue
        speed, cap = _gts(gpu.current_link_speed), _gts(gpu.max_link_speed)
        if speed is None and cap is None:
            continue
        states[gpu.bdf] = LinkState(
            gpu.bdf, speed, gpu.current_link_width, cap, gpu.max_link_width, "sysfs"
        )
    return [states[k] for k in sorted(states)]


def check_pcie_link(facts: Facts) -> CheckResult:
    """Trained link vs capability; idle 2.5GT/s at full width is the known cosmetic report."""
    states = link_states(facts)
    if not states:
        return CheckResult(
            "pcie-link",
            Status.SKIP,
            "no link information (lspci -vvv hides capabilities without root, no sysfs link files)",
            "run as root to read LnkCap/LnkSta",
        )
    degraded: list[str] = []
    idle: list[str] = []
    full: list[str] = []
    for st in states:
        width_short = st.width is not None and st.cap_width is not None and st.width < st.cap_width
        speed_short = st.speed is not None and st.cap_speed is not None and st.speed < st.cap_speed
        if width_short or (speed_short and st.speed != IDLE_LINK_GTS):
            degraded.append(f"{st.bdf} {st.text}")
        elif speed_short:
            idle.append(st.bdf)
        else:
            full.append(st.bdf)
    details = {"links": [st.__dict__ for st in states]}
    if degraded:
        return CheckResult(
            "pcie-link",
            Status.FAIL,
            f"link degraded: {'; '.join(degraded)}",
            "reseat the card/riser, check slot bifurcation and the BIOS PCIe speed setting; "
            "host<->GPU and P2P bandwidth drop with the link",
            details,
        )
    if idle:
        return CheckResult(
            "pcie-link",
            Status.WARN,
            f"{', '.join(idle)} report {IDLE_LINK_GTS:g}GT/s (downgraded) at full width; "
            f"{len(full)} at full speed",
            "known cosmetic report: an idle B60 drops its link speed to save power and "
            "retrains under load; only worry if H2D/P2P figures are low",
            details,
        )
    first = states[0]
    return CheckResult(
        "pcie-link",
        Status.PASS,
        f"{len(states)} GPUs at {first.cap_speed:g}GT/s x{first.cap_width}"
        if first.cap_speed is not None
        else f"{len(states)} GPUs at full link",
        details=details,
    )


def check_bar_size(facts: Facts) -> CheckResult:
    """The large (prefetchable) BAR must cover the card's memory: Resizable BAR enabled."""
    details = _gpu_details(facts)
    sizes: dict[str, int] = {}
    for bdf, d in details.items():
        biggest = max([d.largest_bar_bytes or 0, *(size for _, size in d.rebar_current_bytes)])
        if biggest:
            sizes[bdf] = biggest
    for gpu in facts.sysfs_gpus:
        if gpu.bdf not in sizes and gpu.bar_sizes:
            sizes[gpu.bdf] = max(gpu.bar_sizes)
    if not sizes:
        return CheckResult(
            "bar-size", Status.SKIP, "no BAR sizes readable (lspci -vvv, sysfs)", "run as root"
        )
    model = gpu_model(facts)
    need = (model.memory_gib or 0) * 1024**3 if model else 0
    gib = {bdf: size / 1024**3 for bdf, size in sizes.items()}
    small = [f"{bdf} {g:g} GiB" for bdf, g in gib.items() if need and sizes[bdf] < need]
    detail = {"bar_bytes": sizes, "needed_bytes": need}
    if small:
        return CheckResult(
            "bar-size",
            Status.FAIL,
            f"BAR smaller than the {model.memory_gib if model else '?'} GiB of GPU memory: "
            f"{', '.join(small)}",
            "enable Above 4G Decoding and Re-Size BAR Support in the BIOS",
            detail,
        )
    smallest = min(gib.values())
    return CheckResult(
        "bar-size",
        Status.PASS,
        f"largest BAR {smallest:g} GiB or more on all {len(sizes)} GPUs",
        details=detail,
    )
