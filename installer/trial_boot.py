"""A new kernel's trial boot, concluded by ``multiarc-install --verify`` after the reboot.

The kernel role (module ``multiarc_boot_trial``) keeps the running kernel GRUB's default
(``saved_entry``), sets the new kernel for the next boot only (``grub-reboot``: GRUB's
``next_entry``, which GRUB clears as it boots it) and the node records the pending trial in
``/var/lib/multiarc/node-state.json`` (``trial_boot``). ``--verify`` then judges each node:

* ``next_entry`` still names the trial: the node has not rebooted yet -> SKIP;
* the trial kernel runs and every other check of the node passes -> ``grub-set-default``
  makes it the permanent default, the record's trial is cleared, PASS;
* the trial kernel runs but a check failed -> FAIL, the default is left alone;
* another kernel runs -> the trial did not come up: FAIL "trial boot of X did not come up;
  still on Y", the default is left alone, the record says ``failed``, and the journal of
  the failed boot (``journalctl -b -1``, if it is a boot of X) is appended to the last
  install log.

The running kernel is ``/proc/sys/kernel/osrelease`` on the node (what ``uname -r`` says).
Test seam: test roots run the host's kernel, so the integration tests bind-mount a file
over ``ROOT/proc/sys/kernel/osrelease`` to play "booted into X" (tests/integration/
test_trial_boot.py); the code here and in the role is the production code.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiarc.installer.node_record import NodeRecord, node_host
from multiarc.installer.verify import CheckResult

from multiarc import paths
from multiarc.errors import EnvironmentNotReady
from multiarc.safe_files import make_own_folder, open_append

RUNNING_RELEASE_FILE = "/proc/sys/kernel/osrelease"
GRUBENV = "/boot/grub/grubenv"
CHECK = "trial-boot"


@dataclass(frozen=True)
class Trial:
    """A trial boot as the node recorded it."""

    kernel: str
    entry: str
    fallback_entry: str
    fallback_kernel: str
    status: str  # pending, failed

    @classmethod
    def from_record(cls, data: object) -> Trial | None:
        if not isinstance(data, dict) or not data.get("kernel") or not data.get("entry"):
            return None
        return cls(
            kernel=str(data["kernel"]),
            entry=str(data["entry"]),
            fallback_entry=str(data.get("fallback_entry") or ""),
            fallback_kernel=str(data.get("fallback_kernel") or ""),
            status=str(data.get("status") or "pending"),
        )


@dataclass(frozen=True)
class BootState:
    """What the node runs and what GRUB will boot."""

    running: str
    next_entry: str
    saved_entry: str


@dataclass(frozen=True)
class Verdict:
    outcome: str  # PASS, FAIL, SKIP
    detail: str
    make_permanent: bool = False
    fell_back: bool = False


def judge(trial: Trial, boot: BootState, checks_failed: bool) -> Verdict:
    """The verdict on one node's trial boot (no side effects)."""
    if boot.next_entry == trial.entry:
        return Verdict(
            "SKIP",
            f"trial boot of {trial.kernel} pending: the next boot tries it "
            f"(the default stays {trial.fallback_entry})",
        )
    if boot.running == trial.kernel:
        if checks_failed:
            return Verdict(
                "FAIL",
                f"trial boot of {trial.kernel} came up but checks failed: GRUB's default is "
                f"left at {boot.saved_entry or trial.fallback_entry}; fix them and verify again",
            )
        return Verdict(
            "PASS",
            f"trial boot of {trial.kernel} came up and passes: made it GRUB's permanent "
            f"default ({trial.entry})",
            make_permanent=True,
        )
    return Verdict(
        "FAIL",
        f"trial boot of {trial.kernel} did not come up; still on {boot.running}: GRUB's "
        f"default is left at {boot.saved_entry or trial.fallback_entry}",
        fell_back=True,
    )


def parse_grubenv(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


class NodeBoot:
    """One node's boot facts and the changes a verdict makes, over testinfra's connection."""

    def __init__(self, host: Any) -> None:
        self.host = host

    def state(self) -> BootState:
        running = self.host.file(RUNNING_RELEASE_FILE).content_string.strip()
        listed = self.host.run(f"grub-editenv {GRUBENV} list")
        env = parse_grubenv(listed.stdout) if listed.rc == 0 else {}
        return BootState(running, env.get("next_entry", ""), env.get("saved_entry", ""))

    def make_permanent(self, entry: str) -> str:
        """grub-set-default ENTRY; returns "" or what went wrong."""
        done = self.host.run(f"grub-set-default {shlex.quote(entry)}")
        return "" if done.rc == 0 else (done.stderr or done.stdout).strip()[:200]

    def write_record(self, record: dict[str, Any]) -> str:
        """Rewrite node-state.json exactly as the node_record role writes it (to_nice_json),
        so that the next install run finds it unchanged; returns "" or what went wrong."""
        text = json.dumps(record, indent=4, sort_keys=True) + "\n"
        encoded = base64.b64encode(text.encode()).decode()
        target = shlex.quote(str(paths.NODE_STATE_FILE))
        done = self.host.run(
            f"printf %s {encoded} | base64 -d > {target}.tmp && mv -f {target}.tmp {target}"
        )
        return "" if done.rc == 0 else (done.stderr or done.stdout).strip()[:200]

    def failed_boot_journal(self, kernel: str) -> tuple[str, str]:
        """(journal of the previous boot, "") when it was a boot of kernel, else ("", why)."""
        done = self.host.run("journalctl -b -1 -o short-iso --no-pager")
        if done.rc != 0:
            why = (done.stderr or done.stdout).strip().splitlines()[:1] or [f"rc {done.rc}"]
            return "", f"the journal of the failed boot is not readable ({why[0][:120]})"
        if f"Linux version {kernel}" not in done.stdout:
            return "", (
                f"the previous boot in the journal is not a boot of {kernel} "
                "(it failed before the journal was written)"
            )
        return done.stdout, ""


def conclude(
    host_name: str,
    node: NodeBoot,
    record: dict[str, Any],
    checks_failed: bool,
    keep_journal: Callable[[str, str], Path | None],
) -> tuple[str, str] | None:
    """(outcome, detail) of the node's trial, after acting on it; None without a trial."""
    trial = Trial.from_record(record.get("trial_boot"))
    if trial is None:
        return None
    verdict = judge(trial, node.state(), checks_failed)
    detail = verdict.detail
    if verdict.make_permanent:
        problem = node.make_permanent(trial.entry) or node.write_record(
            dict(record, trial_boot=None)
        )
        if problem:
            return "FAIL", f"trial boot of {trial.kernel} came up, but {problem}"
    elif verdict.fell_back:
        journal, why = node.failed_boot_journal(trial.kernel)
        kept = keep_journal(host_name, journal) if journal else None
        detail += f"; journal of the failed boot kept in {kept}" if kept else f"; {why}"
        failed = dict(record["trial_boot"], status="failed")
        node.write_record(dict(record, trial_boot=failed))
    return verdict.outcome, detail


def conclude_trials(
    records: list[NodeRecord],
    inventory: Path | None,
    results: list[CheckResult],
    log_for_journal: Path,
) -> list[CheckResult]:
    """One ``trial-boot`` result per node that recorded a trial boot (see :func:`conclude`)."""

    def keep_journal(host: str, journal: str) -> Path | None:
        try:
            make_own_folder(log_for_journal.parent, "log folder")
            with open_append(log_for_journal) as handle:
                handle.write(f"\n=== {host}: journal of the failed trial boot (journalctl -b -1)\n")
                handle.write(journal.rstrip("\n") + "\n=== end of the journal\n")
        except (OSError, EnvironmentNotReady):  # never into a folder others can write
            return None
        return log_for_journal

    found = []
    for record in records:
        if not isinstance(record.data.get("trial_boot"), dict):
            continue
        failed = any(r.host == record.host and r.outcome == "FAIL" for r in results)
        kernel = str(record.data["trial_boot"].get("kernel", ""))
        try:
            node = NodeBoot(node_host(inventory, record.host))
            verdict = conclude(record.host, node, record.data, failed, keep_journal)
        except Exception as err:  # testinfra/ansible raise many kinds for a host it cannot reach
            first = str(err).strip().splitlines()[:1] or [type(err).__name__]
            verdict = ("FAIL", f"trial boot of {kernel} could not be judged: {first[0][:200]}")
        if verdict is not None:
            found.append(CheckResult(record.host, CHECK, kernel, *verdict))
    return found
