"""GPU telemetry while a sweep point runs, on the node that serves: ``xpu-smi dump`` of
every GPU each second (the metrics of ``basic``'s dump step), read with the same parser.
Where xpu-smi is not installed (or the server is elsewhere), nothing is recorded and the
results say so."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from dataclasses import dataclass, field

from multiarc.evaluation.parsers.xpu_smi import parse_dump
from multiarc.evaluation.steps import XPU_SMI_DUMP_METRICS

POWER = "GPU Power (W)"
UTILIZATION = "GPU Utilization (%)"
MEMORY_USED = "GPU Memory Used (MiB)"
FREQUENCY = "GPU Frequency (MHz)"
KEPT = (POWER, UTILIZATION, MEMORY_USED, FREQUENCY)


@dataclass
class GpuTelemetry:
    available: bool = False
    note: str = ""
    peaks: dict[str, dict[int, float]] = field(default_factory=dict)  # column -> GPU -> max

    def as_dict(self) -> dict[str, object]:
        return {"available": self.available, "note": self.note,
                "max": {col: {str(gpu): v for gpu, v in per.items()}
                        for col, per in self.peaks.items()}}


class DumpWatcher:
    """``xpu-smi dump -d -1 -m ... -i 1`` in the background for the length of a point."""

    def __init__(self, local: bool) -> None:
        self.local = local
        self.tool = shutil.which("xpu-smi") if local else None
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if self.tool is None:
            return
        with contextlib.suppress(OSError):
            self._proc = await asyncio.create_subprocess_exec(
                self.tool, "dump", "-d", "-1", "-m", XPU_SMI_DUMP_METRICS, "-i", "1",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)

    async def stop(self) -> GpuTelemetry:
        if not self.local:
            return GpuTelemetry(note="the server is on another machine: no GPU telemetry")
        if self.tool is None:
            return GpuTelemetry(note="xpu-smi is not installed here: no GPU telemetry")
        if self._proc is None:
            return GpuTelemetry(note="xpu-smi dump could not be started")
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.terminate()
        try:
            out, _ = await asyncio.wait_for(self._proc.communicate(), timeout=5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            out, _ = await self._proc.communicate()
        rows = parse_dump(out.decode("utf-8", errors="replace")).records
        if not rows:
            return GpuTelemetry(note="xpu-smi dump printed no rows")
        telemetry = GpuTelemetry(available=True)
        for row in rows:
            for column in KEPT:
                value = row.value(column)
                if value is not None:
                    per = telemetry.peaks.setdefault(column, {})
                    per[row.device_id] = max(per.get(row.device_id, value), value)
        return telemetry
