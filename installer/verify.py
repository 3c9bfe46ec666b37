"""``multiarc-install --verify``: check the installed state with pytest-testinfra.

What to expect comes from the installed bundle (recorded in state.json): its kernel release,
the kernel parameters the grub role adds, every firmware blob with its sha256, every
package with its version (host-only components marked), the tools. The checks in
:mod:`multiarc.installer.verify_checks` run in a separate pytest process against
``local://`` or, with an inventory, ``ansible://HOST`` for each host; the result is a
PASS/FAIL/SKIP table and exit 1 on any FAIL.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multiarc.installer import verify_checks
from multiarc.installer.node_record import NodeRecord
from rich.table import Table

from multiarc import paths
from multiarc.errors import EnvironmentNotReady, InputError

# Components whose packages are installed on hosts only (not in containers), as the
# original installer does; the other components are installed everywhere.
HOST_ONLY_COMPONENTS = frozenset({"kernel", "base/docker", "gfxdrv/video", "gfxdrv/graphics"})
PACKAGE_DIRS = (
    "kernel",
    "base",
    "base/docker",
    "gfxdrv/base",
    "gfxdrv/gpgpu",
    "gfxdrv/video",
    "gfxdrv/graphics",
    "tools/1ccl",
    "tools/gemm",
    "tools/xpu-smi",
)
BIN_DIRS = ("usr/bin/", "usr/local/bin/", "usr/sbin/", "bin/")


@dataclass
class CheckResult:
    host: str
    check: str
    item: str
    outcome: str  # PASS, FAIL, SKIP
    detail: str


def deb_fields(deb: Path) -> tuple[str, str]:
    out = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version"], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise InputError(f"unreadable package in the bundle: {deb}", out.stderr.strip())
    fields = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    return fields["Package"], fields["Version"]


def deb_executables(deb: Path) -> list[str]:
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True)
    names = []
    for line in out.stdout.splitlines():
        parts = line.split()
        executable = parts and parts[0].startswith("-") and "x" in parts[0]
        if not (executable or (parts and parts[0].startswith("l"))):  # files or links
            continue
        path = parts[5].removeprefix("./") if len(parts) > 5 else ""
        if any(path.startswith(d) for d in BIN_DIRS):
            names.append(path.rsplit("/", 1)[-1])
    return names


def kernel_release(package: str) -> str | None:
    match = re.fullmatch(r"linux-image-(?:unsigned-)?(\d.+)", package)
    return match.group(1) if match else None


def expectations(
    bundle_dir: Path, records: list[NodeRecord], skip_checks: list[str]
) -> dict[str, Any]:
    """Everything the checks compare against: the extracted bundle the nodes (one bundle
    version) recorded, and each node's own record (kernel parameters, container)."""
    packages: list[dict[str, Any]] = []
    tools: list[dict[str, str]] = []
    target_kernel = next((r.target_kernel for r in records if r.target_kernel), None)
    for component in PACKAGE_DIRS:
        for deb in sorted((bundle_dir / component).glob("*.deb")):
            name, version = deb_fields(deb)
            packages.append(
                {
                    "name": name,
                    "version": version,
                    "component": component,
                    "host_only": component in HOST_ONLY_COMPONENTS,
                }
            )
            if component == "kernel" and not target_kernel:
                target_kernel = kernel_release(name)
            if component.startswith("tools/"):
                tools.extend({"name": exe} for exe in deb_executables(deb))
    l0_src = bundle_dir / "tools" / "level-zero-tests"
    if l0_src.is_dir():
        for item in sorted(p for p in l0_src.iterdir() if p.is_file()):
            tools.append({"name": item.name, "path": str(paths.LEVEL_ZERO_TESTS_DIR / item.name)})
    firmware = [
        {"name": blob["dest"], "sha256": blob["sha256"]} for blob in bundle_firmware(bundle_dir)
    ]
    return {
        "bundle_version": records[0].bundle_version if records else None,
        "target_kernel": target_kernel,
        "firmware_root": str(paths.FIRMWARE_ROOT),
        "firmware": firmware,
        "packages": packages,
        "tools": tools,
        "skip_checks": list(skip_checks),
        "hosts": {
            r.host: {"container": r.container, "cmdline_params": r.cmdline_params} for r in records
        },
    }


def bundle_firmware(bundle_dir: Path) -> list[dict[str, str]]:
    """The bundle's firmware blobs with where they are installed (dest under /lib/firmware)
    and their sha256: the collection's bundle index module decides both, for the firmware
    role and for these checks alike (one place of the rule)."""
    from multiarc.installer.bundle_index import index_module

    module = index_module()
    found: list[dict[str, str]] = module.firmware_files(str(bundle_dir))
    return found


def parse_skip_checks(value: str | None) -> list[str]:
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in verify_checks.CHECKS]
    if unknown:
        raise InputError(
            f"--skip-check: unknown check(s): {', '.join(unknown)}",
            f"checks are: {', '.join(verify_checks.CHECKS)}",
        )
    return names


def host_specs(inventory: Path | None, hosts: list[str]) -> list[str]:
    if inventory is None:
        return ["local://"]
    return [f"ansible://{h}" for h in hosts]


def run_checks(
    expect: dict[str, Any],
    specs: list[str],
    inventory: Path | None,
    workdir: Path | None = None,
) -> list[CheckResult]:
    """Run the testinfra module in its own pytest process; return one result per check."""
    with tempfile.TemporaryDirectory(prefix="multiarc-verify-", dir=workdir) as tmp:
        folder = Path(tmp)
        expect_file = folder / "expect.json"
        results_file = folder / "results.json"
        expect_file.write_text(json.dumps(expect, indent=2))
        (folder / "pytest.ini").write_text("[pytest]\naddopts =\n")
        module = Path(verify_checks.__file__).parent / "test_installed_state.py"
        cmd = [
            sys.executable, "-m", "pytest", str(module),
            "-c", str(folder / "pytest.ini"), "--rootdir", str(folder),
            "-p", "no:cacheprovider", "-p", "multiarc.installer.verify_checks.collector",
            "--import-mode=importlib", "-q", "--no-header", "-o", "console_output_style=classic",
            f"--hosts={','.join(specs)}",
        ]  # fmt: skip
        if inventory is not None:
            cmd.append(f"--ansible-inventory={inventory}")
        env = dict(os.environ)
        env[verify_checks.EXPECT_ENV] = str(expect_file)
        env[verify_checks.RESULTS_ENV] = str(results_file)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["ANSIBLE_NOCOLOR"] = "1"
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder)
        if not results_file.is_file():
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            raise EnvironmentNotReady(
                "the verify checks could not run: " + " | ".join(tail),
                "check that the hosts are reachable (ssh) and testinfra is installed",
            )
        raw = json.loads(results_file.read_text())
    return [CheckResult(r["host"], r["check"], r["item"], r["outcome"], r["detail"]) for r in raw]


STYLE = {"PASS": "green", "FAIL": "bold red", "SKIP": "cyan"}


def results_table(results: list[CheckResult], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("host", "check", "item", "result", "detail"):
        table.add_column(column)
    for r in results:
        style = STYLE.get(r.outcome, "")
        table.add_row(r.host, r.check, r.item, f"[{style}]{r.outcome}[/]", r.detail)
    return table


def counts(results: list[CheckResult]) -> dict[str, int]:
    out = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for r in results:
        out[r.outcome] = out.get(r.outcome, 0) + 1
    return out
