"""Each host's fetched run folder judged on the controller as soon as it arrives.

The playbook fetches a host's run folder when its tools are done; from then on the
controller's work on that host (unpacking, parsing, checks, verdicts, the host's reports)
runs in a worker thread while Ansible still waits on the other hosts; two hosts at a time,
so that one is parsed while the other's plots are drawn (in the plot worker processes,
kept warm for the whole run: reports/plot_worker.kept_warm). What has not arrived when
the playbook ends (an unreachable host, one that failed before results, Ctrl-C) is
reported with the reason.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from multiarc import fleet

from .fleet_host import HostOutcome, JudgeOptions, judge_host, unpack
from .steps import StepSpec

JUDGE_WORKERS = 2  # judging threads, and plot worker processes (at most one per CPU)


class Judging:
    """Judges fetched hosts in the background, as they arrive."""

    def __init__(self, folder: Path, recordings: dict[str, Path | None],
                 specs: dict[str, StepSpec], opts: JudgeOptions) -> None:  # fmt: skip
        self.folder, self.recordings, self.specs, self.opts = folder, recordings, specs, opts
        # each host's folder name, for its fetched archive and its hosts/<name>/ folder
        self.names = fleet.folder_names(recordings)
        self._pool = ThreadPoolExecutor(
            max_workers=JUDGE_WORKERS, thread_name_prefix="multiarc-judge"
        )
        self._done: dict[str, Future[HostOutcome]] = {}

    def _archive(self, host: str) -> Path:
        return self.folder / ".fetch" / f"{self.names[host]}.tar.gz"

    def arrived(self, host: str) -> None:
        if host not in self._done and self._archive(host).is_file():
            self._done[host] = self._pool.submit(self._judge, host)

    def _judge(self, host: str) -> HostOutcome:
        recording = self.recordings.get(host)
        outcome = HostOutcome(host, "done", recording=str(recording) if recording else None)
        started = time.monotonic()
        try:
            outcome.folder = unpack(self._archive(host), self.folder / "hosts" / self.names[host])
            judge_host(outcome, self.specs, self.opts)
        except (OSError, ValueError, KeyError) as err:
            outcome.status, outcome.reason = "failed", f"run folder unreadable: {err}"
        outcome.timing["controller_s"] = round(time.monotonic() - started, 3)
        return outcome

    def finish(self, hosts: list[str], events: fleet.HostEvents) -> list[HostOutcome]:
        """Every host's outcome, in inventory order (waits for the judging still running)."""
        outcomes = []
        for host in hosts:
            self.arrived(host)  # fetched without an event seen (a stopped run)
            if host in self._done:
                outcome = self._done[host].result()
                if events.cancel and outcome.meta.get("interrupted", True):  # not if it ended
                    outcome.status, outcome.reason = (
                        "interrupted",
                        "Ctrl-C: stopped, partial results",
                    )
            else:
                recording = self.recordings.get(host)
                outcome = HostOutcome(
                    host, "failed", recording=str(recording) if recording else None
                )
                status, reason = events.reasons.get(host, ("", ""))
                if events.cancel:
                    outcome.status, outcome.reason = (
                        "interrupted",
                        "Ctrl-C before any result came back",
                    )
                else:
                    outcome.status = status or "failed"
                    outcome.reason = reason or "no results came back"
            outcomes.append(outcome)
        return outcomes

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.folder / ".fetch", ignore_errors=True)
