"""Command line of ``multiarc-install``: the offline install, its verification, bundles."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from multiarc.installer.driver import parse_role_list, playbook_roles
from multiarc.installer.install import (
    InstallPaths,
    InstallReport,
    InstallRequest,
    install,
    reboot_hosts,
)
from multiarc.installer.inventory import LOCAL_HOST, inventory_hosts
from multiarc.installer.node_record import NodeRecord, read_records
from multiarc.installer.progress import PlainView, RichView, View
from multiarc.installer.state import load_state
from multiarc.installer.summary import print_summary
from multiarc.installer.trial_boot import conclude_trials
from multiarc.installer.verify import (
    CheckResult,
    counts,
    expectations,
    host_specs,
    parse_skip_checks,
    results_table,
    run_checks,
)
from multiarc.installer.verify_checks import CHECKS
from rich.console import Console

import multiarc.errors as errors_mod
from multiarc.errors import ChecksFailed, EnvironmentNotReady, InputError, reports_errors
from multiarc.paths import NODE_STATE_FILE

EPILOG = """\b
Examples:
  # install the bundle on this machine (asks before changing anything)
  sudo multiarc-install --offline multi-arc-bmg-offline-installer-25.31.tar.xz
  # show what would change, with diffs, changing nothing
  sudo multiarc-install --offline BUNDLE.tar.xz --check
  # only the firmware and grub roles; or everything but docker
  sudo multiarc-install --offline BUNDLE.tar.xz --only firmware,grub --yes
  sudo multiarc-install --offline BUNDLE.tar.xz --skip docker --yes
  # install onto the hosts of an Ansible inventory over SSH, reboot those that need it
  # (a new kernel boots once as a trial; the running kernel stays GRUB's default)
  multiarc-install --offline BUNDLE.tar.xz --inventory rack1.ini --yes --reboot
  # after the reboot: check the installed state (exit 1 on any failure); a trial kernel
  # that came up and passes becomes GRUB's permanent default
  sudo multiarc-install --verify
  multiarc-install --verify --inventory rack1.ini
  # make or check a bundle
  multiarc-install bundle create SRC_DIR -o bundle.tar.xz
  multiarc-install bundle verify bundle.tar.xz

\b
Exit codes: 0 ok, 1 failed tasks or checks, 2 usage or input error (bad flag,
corrupt bundle), 3 not ready (not root, unsupported OS, another run in progress).
Logs: /var/log/multiarc/install-<time>.log and .events.jsonl; state:
/var/lib/multiarc/state.json.
"""


@click.group(
    cls=errors_mod.Group,
    name="multiarc-install",
    invoke_without_command=True,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--offline",
    "bundle",
    metavar="BUNDLE.tar.xz",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Install this offline bundle (Intel's archive or a multiarc bundle with manifest).",
)
@click.option("--check", is_flag=True, help="Show what would change (with diffs); change nothing.")
@click.option(
    "--only",
    metavar="ROLE,..",
    help=f"Run only these roles: {', '.join(playbook_roles()) or '(roles/ not found)'}.",
)
@click.option("--skip", metavar="ROLE,..", help="Run every role but these.")
@click.option(
    "--reboot", is_flag=True, help="Reboot at the end when a reboot is needed (into a trial boot)."
)
@click.option(
    "--no-trial-boot",
    is_flag=True,
    help="Make the new kernel GRUB's default at once, not for one trial boot first.",
)
@click.option(
    "--inventory",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Ansible inventory: install onto (or verify) its hosts over SSH instead of localhost.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--allow-os-override",
    is_flag=True,
    help="Accept a Debian-family system other than Ubuntu 25.04 (labs, test roots).",
)
@click.option(
    "--reverify",
    is_flag=True,
    help="Read and check every file of the bundle again, even when these exact bytes "
    "(same sha256) were verified by an earlier run.",
)
@click.option("--verify", is_flag=True, help="Check the installed state (after the reboot).")
@click.option(
    "--skip-check",
    metavar="CHECK,..",
    help=f"With --verify: report these checks as SKIP ({', '.join(CHECKS)}).",
)
@click.pass_context
@reports_errors
def main(ctx: click.Context, **given: Any) -> None:
    """Bring an Intel Arc Pro B60 server to the validated software stack, offline.

    Runs the project's Ansible playbook (roles: preflight, local_repo, firmware, kernel, grub,
    system_config, gpu_driver, oneapi, tools, docker) on this machine or on the hosts of an
    inventory, shows progress, records state and ends with a summary of what changed, what
    was skipped and whether a reboot is needed. Host-only roles (kernel, grub, firmware,
    docker) are skipped inside containers.
    """
    if ctx.invoked_subcommand is not None:
        return
    opts = _Options(**given)
    if opts.verify and opts.bundle is not None:
        raise InputError("--verify and --offline are separate steps", "run one, then the other")
    if opts.verify:
        _verify(opts.inventory, opts.skip_check)
        return
    if opts.bundle is None:
        raise InputError(
            "nothing to do", "pass --offline BUNDLE.tar.xz or --verify (see multiarc-install -h)"
        )
    if opts.skip_check:
        raise InputError("--skip-check goes with --verify", "drop it, or run --verify")
    roles = playbook_roles()
    request = InstallRequest(
        bundle=opts.bundle,
        check=opts.check,
        only=parse_role_list(opts.only, roles, "--only"),
        skip=parse_role_list(opts.skip, roles, "--skip"),
        inventory=opts.inventory,
        allow_os_override=opts.allow_os_override,
        trial_boot=not opts.no_trial_boot,
        reverify=opts.reverify,
    )
    _install(request, yes=opts.yes, reboot=opts.reboot)


@dataclass(frozen=True)
class _Options:
    """The main command's options, as click parsed them."""

    bundle: Path | None
    check: bool
    only: str | None
    skip: str | None
    reboot: bool
    no_trial_boot: bool
    inventory: Path | None
    yes: bool
    allow_os_override: bool
    reverify: bool
    verify: bool
    skip_check: str | None


def _console() -> Console:
    return Console(highlight=False)


def _install(request: InstallRequest, *, yes: bool, reboot: bool) -> None:
    console = _console()
    view: View = (
        RichView(console, show_diffs=request.check)
        if console.is_terminal
        else PlainView(sys.stdout, show_diffs=request.check)
    )

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        return click.confirm(question, default=False)

    install_paths = InstallPaths.default()
    try:
        report = install(request, install_paths, view, confirm=confirm, say=console.print)
    except KeyboardInterrupt:
        if not request.check:
            console.print(
                "interrupted: what was done is recorded in "
                f"{install_paths.state_file}; run the same command again to finish "
                "(it completes interrupted package operations first)"
            )
        raise
    _print_report(console, report, request)
    if report.failed:
        raise ChecksFailed(
            f"{report.failed} task(s) failed", f"see the log {report.log} and run again"
        )
    if reboot and report.reboot_hosts and not request.check:
        reboot_hosts(report, request, install_paths, console.print)


def _print_report(console: Console, report: InstallReport, request: InstallRequest) -> None:
    title = (
        f"multiarc-install {'--check ' if request.check else ''}bundle {report.bundle_version}: "
        f"{report.result}, {report.changed} {'would change' if request.check else 'changed'}, "
        f"{report.failed} failed"
    )
    print_summary(console, report.rows, title)
    for note in report.notes:
        console.print(f"note: {note}")
    if request.check:
        console.print("check mode: nothing was changed.")
    elif report.reboot_hosts:
        verify = "multiarc-install --verify" + (
            f" --inventory {request.inventory}" if request.inventory else ""
        )
        for host, kernel in sorted(report.trials.items()):
            console.print(
                f"trial boot of {kernel} on {host}: the next boot only tries it; the running "
                f"kernel stays GRUB's default until {verify} passes on {kernel}"
            )
        console.print(
            f"[bold yellow]reboot required[/] on {', '.join(report.reboot_hosts)}; "
            f"after it run: {verify}"
        )
    elif report.result == "ok":
        console.print("no reboot needed.")
    console.print(f"log: {report.log}")
    console.print(f"events: {report.events}")


def _verify(inventory: Path | None, skip_check: str | None) -> None:
    skip = parse_skip_checks(skip_check)
    hosts = inventory_hosts(inventory) if inventory else [LOCAL_HOST]
    install_paths = InstallPaths.default()
    console = _console()
    records = read_records(inventory, hosts)
    if not any(r.bundle_version for r in records):
        problems = "; ".join(f"{r.host}: {r.problem}" for r in records)
        raise EnvironmentNotReady(
            f"nothing to verify: {problems}",
            "run multiarc-install --offline BUNDLE.tar.xz first (with the same --inventory)",
        )
    results: list[CheckResult] = [
        CheckResult(r.host, "install-record", str(NODE_STATE_FILE), "FAIL", r.problem)
        for r in records
        if not r.bundle_version
    ]
    groups: dict[str, list[NodeRecord]] = {}
    for record in records:
        if record.bundle_version:
            groups.setdefault(record.bundle_version, []).append(record)
    for version, members in groups.items():
        console.print(f"verifying bundle {version} on {', '.join(r.host for r in members)} ...")
        bundle_dir = install_paths.bundles_dir / version
        if not bundle_dir.is_dir():
            results.extend(
                CheckResult(
                    r.host, "install-record", version, "FAIL",
                    f"this controller has no copy of bundle {version} ({bundle_dir}): verify "
                    "from the controller that installed it, or install it again from here",
                )
                for r in members
            )  # fmt: skip
            continue
        expect = expectations(bundle_dir, members, skip)
        specs = host_specs(inventory, [r.host for r in members])
        results.extend(run_checks(expect, specs, inventory))
    trials = conclude_trials(records, inventory, results, _journal_log(install_paths))
    results.extend(trials)
    tally = counts(results)
    title = (
        f"multiarc-install --verify: {tally['PASS']} pass, {tally['FAIL']} fail, "
        f"{tally['SKIP']} skip"
    )
    console.print(results_table(results, title))
    for trial in trials:
        console.print(f"{trial.host}: {trial.detail}")
    if not tally["PASS"] and not tally["FAIL"]:
        raise ChecksFailed(
            "no check could run here: everything was skipped", "see the reasons in the table"
        )
    if tally["FAIL"]:
        raise ChecksFailed(f"{tally['FAIL']} check(s) failed", "see the table above")


def _journal_log(install_paths: InstallPaths) -> Path:
    """Where the journal of a failed trial boot is kept: the last install's log."""
    last = load_state(install_paths.state_file).last_run
    if last is not None and last.log:
        return Path(last.log)
    return install_paths.log_dir / "trial-boot.log"


def _attach_bundle_commands() -> None:
    try:
        from multiarc.installer.bundle_cli import bundle as bundle_group
    except ImportError:
        return
    main.add_command(bundle_group, name="bundle")


_attach_bundle_commands()


if __name__ == "__main__":
    main()
