"""The synthetic bundle is what it claims: real packages, resolvable, laid out like Intel's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from multiarc.installer.verify import PACKAGE_DIRS

from tests.fixtures.synthetic_bundle import (
    FIXTURE_SUFFIX,
    KERNEL_RELEASE,
    ONEAPI_PRODUCT_VERSION,
    build_bundle_tree,
    fixture_packages,
)

HOST_ONLY = {"kernel", "base/docker", "gfxdrv/video", "gfxdrv/graphics"}


def _control(deb: Path) -> dict[str, str]:
    out = subprocess.run(["dpkg-deb", "-I", str(deb), "control"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    fields = {}
    for line in out.stdout.splitlines():
        if line[:1] != " " and ": " in line:
            key, value = line.split(": ", 1)
            fields[key] = value
    return fields


def _debs(tree: Path) -> dict[str, Path]:
    return {str(p.relative_to(tree)): p for p in sorted(tree.rglob("*.deb"))}


def test_layout_is_intels(bundle_tree: Path) -> None:
    assert bundle_tree.name == "multi-arc-bmg-offline-installer-2025.2.0-fixture"
    assert (bundle_tree / "VERSION").read_text().strip() == "2025.2.0-fixture"
    for folder in PACKAGE_DIRS:  # every package folder the installer reads
        assert list((bundle_tree / folder).glob("*.deb")), folder
    assert sorted(p.name for p in (bundle_tree / "firmware").iterdir()) == [
        "bmg_guc_70.bin.zst",
        "bmg_huc.bin.zst",
    ]
    assert (bundle_tree / "oneapi" / "intel-oneapi-base-toolkit-2025.1.3.7_offline.sh").is_file()
    l0 = bundle_tree / "tools" / "level-zero-tests"
    assert os.access(l0 / "ze_peer", os.X_OK) and os.access(l0 / "ze_peak", os.X_OK)
    assert (l0 / "ze_global_bw.spv").read_bytes()[:4] == bytes.fromhex("03022307")
    reference = bundle_tree / "results" / "reference_perf.csv"
    assert reference.read_text().startswith("Category,Subcategory,Data/Packet Size,Reference")
    assert (bundle_tree / "scripts" / "installation" / "install_kernel.sh").is_file()


def test_every_package_is_a_labelled_fixture_in_its_folder(bundle_tree: Path) -> None:
    debs = _debs(bundle_tree)
    expected = fixture_packages()
    assert len(debs) == len(expected) >= 38
    for pkg in expected:
        rel = f"{pkg.component}/{pkg.filename}"
        fields = _control(debs[rel])
        assert fields["Package"] == pkg.name
        assert fields["Version"] == pkg.version and pkg.version.endswith(FIXTURE_SUFFIX)
        assert fields["Description"].startswith("multiarc test fixture standing in for")
        assert fields["Architecture"] in ("amd64", "all")


def test_dependencies_resolve_inside_the_bundle_and_respect_host_only(bundle_tree: Path) -> None:
    where = {pkg.name: pkg.component for pkg in fixture_packages()}
    for pkg in fixture_packages():
        for dep in pkg.depends:
            assert dep in where, f"{pkg.name} depends on {dep}, not in the bundle"
            if pkg.component not in HOST_ONLY:
                # containers skip host-only folders: what is always installed can't need them
                assert where[dep] not in HOST_ONLY, f"{pkg.name} needs host-only {dep}"


def test_apt_installs_every_package_from_a_local_repository(
    bundle_tree: Path, tmp_path: Path
) -> None:
    """apt itself (simulation, empty dpkg status) resolves the whole bundle."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for deb in bundle_tree.rglob("*.deb"):
        os.link(deb, repo / deb.name)
    packages = subprocess.run(
        ["dpkg-scanpackages", ".", "/dev/null"], cwd=repo, capture_output=True, check=True
    ).stdout
    (repo / "Packages").write_bytes(packages)
    for sub in ("state/lists/partial", "cache/archives/partial", "parts", "prefs"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "status").touch()
    (tmp_path / "sources.list").write_text(f"deb [trusted=yes] file:{repo} ./\n")
    options = [
        f"-oDir::State={tmp_path / 'state'}",
        f"-oDir::State::status={tmp_path / 'status'}",
        f"-oDir::Cache={tmp_path / 'cache'}",
        f"-oDir::Etc::SourceList={tmp_path / 'sources.list'}",
        f"-oDir::Etc::SourceParts={tmp_path / 'parts'}",
        f"-oDir::Etc::PreferencesParts={tmp_path / 'prefs'}",
        "-oAPT::Architecture=amd64",
        "-oDebug::NoLocking=1",
    ]
    subprocess.run(["apt-get", *options, "-qq", "update"], check=True, capture_output=True)
    wanted = [f"{p.name}={p.version}" for p in fixture_packages()]
    out = subprocess.run(
        ["apt-get", *options, "-s", "--no-install-recommends", "install", *wanted],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    configured = {line.split()[1] for line in out.stdout.splitlines() if line.startswith("Conf ")}
    assert configured == {p.name for p in fixture_packages()}


def test_no_two_packages_ship_the_same_file(bundle_tree: Path) -> None:
    """dpkg would refuse to install a bundle whose packages overwrite each other's files."""
    owner: dict[str, str] = {}
    for deb in bundle_tree.rglob("*.deb"):
        listing = subprocess.run(
            ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
        ).stdout
        for line in listing.splitlines():
            if line.startswith("d"):
                continue
            path = line.split()[5]
            assert path not in owner, f"{path} in {deb.name} and {owner[path]}"
            owner[path] = deb.name


def test_dpkg_installs_every_package_into_a_scratch_root(bundle_tree: Path, tmp_path: Path) -> None:
    admin = tmp_path / "var" / "lib" / "dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").touch()
    debs = [str(p) for p in sorted(bundle_tree.rglob("*.deb"))]
    host_log = Path("/var/log/dpkg.log")
    host_log_size = host_log.stat().st_size if host_log.exists() else None
    out = subprocess.run(
        [
            "dpkg",
            f"--root={tmp_path}",
            f"--log={tmp_path / 'dpkg.log'}",  # --root leaves the host's log as the default
            "--force-script-chrootless",
            "--force-not-root",
            "-i",
            *debs,
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # the scratch root's packages are logged in its own dpkg.log, never in the machine's
    assert (host_log.stat().st_size if host_log.exists() else None) == host_log_size
    assert "install " in (tmp_path / "dpkg.log").read_text()
    listed = subprocess.run(
        ["dpkg-query", f"--admindir={admin}", "-W", "-f", "${Status} ${Package}\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert sum(line.startswith("install ok installed") for line in listed) == len(debs)
    assert (tmp_path / "boot" / f"vmlinuz-{KERNEL_RELEASE}").is_file()
    assert os.access(tmp_path / "usr" / "bin" / "xpu-smi", os.X_OK)


def test_kernel_image_ships_what_grub_and_initramfs_need(bundle_tree: Path) -> None:
    rel = KERNEL_RELEASE
    deb = next((bundle_tree / "kernel").glob(f"linux-image-{rel}_*.deb"))
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    for path in (
        f"./boot/vmlinuz-{rel}",
        f"./boot/config-{rel}",
        f"./lib/modules/{rel}/modules.order",
        f"./lib/modules/{rel}/modules.builtin",
    ):
        assert path in listing
    assert _control(deb)["Depends"] == f"linux-modules-{rel}"


def test_docker_engine_ships_its_units(bundle_tree: Path, tmp_path: Path) -> None:
    for name, unit in (("docker-ce", "docker.service"), ("containerd.io", "containerd.service")):
        deb = next((bundle_tree / "base" / "docker").glob(f"{name}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
        text = (tmp_path / "usr/lib/systemd/system" / unit).read_text()
        assert "ExecStart=/usr/bin/" in text and "WantedBy=multi-user.target" in text


def test_firmware_blobs_are_zstd(bundle_tree: Path) -> None:
    for blob in (bundle_tree / "firmware").iterdir():
        subprocess.run(["zstd", "-q", "-t", str(blob)], check=True)


def test_tool_executables_say_they_are_fixtures(bundle_tree: Path, tmp_path: Path) -> None:
    deb = next((bundle_tree / "tools" / "xpu-smi").glob("xpu-smi_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    out = subprocess.run(
        [str(tmp_path / "usr/bin/xpu-smi"), "discovery"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "multiarc test fixture" in out.stdout and "discovery" in out.stdout


class TestOneapiInstaller:
    @pytest.fixture
    def installer(self, bundle_tree: Path) -> Path:
        return next((bundle_tree / "oneapi").glob("*_offline.sh"))

    def test_installs_with_intels_command_line(self, installer: Path, tmp_path: Path) -> None:
        target = tmp_path / "oneapi"
        components = "intel.oneapi.lin.dpl:intel.oneapi.lin.mkl.devel"
        command = ["sh", str(installer), "-a", "-s", "--eula", "accept"]
        command += [f"--install-dir={target}", "--components", components]
        subprocess.run(
            command,
            check=True,
            capture_output=True,
        )
        assert (target / "setvars.sh").is_file()
        assert (target / "mkl" / "latest").is_symlink() and (target / "dpl" / "latest").exists()
        assert not (target / "compiler").exists()  # not asked for
        assert (target / "2025.1").is_dir()  # what Intel's installer.sh tests to skip
        log = (
            target
            / "logs"
            / (f"installer.install.intel.oneapi.lin.basekit.product,v={ONEAPI_PRODUCT_VERSION}.log")
        )
        assert log.is_file()
        env = subprocess.run(
            ["bash", "-c", f". {target}/setvars.sh >/dev/null; echo $ONEAPI_ROOT"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert env == str(target)
        subprocess.run(
            ["sh", str(installer), "-a", "-s", "--action", "remove", "--install-dir", str(target)],
            check=True,
        )
        assert not (target / "setvars.sh").exists() and not log.exists()

    def test_refuses_without_accepting_the_eula(self, installer: Path, tmp_path: Path) -> None:
        out = subprocess.run(
            ["sh", str(installer), "-a", "-s", "--install-dir", str(tmp_path / "x")],
            capture_output=True,
            text=True,
        )
        assert out.returncode != 0 and "--eula accept" in out.stderr
        assert not (tmp_path / "x").exists()

    def test_unknown_component_or_flag_fails(self, installer: Path, tmp_path: Path) -> None:
        base = [
            "sh",
            str(installer),
            "-a",
            "-s",
            "--eula",
            "accept",
            "--install-dir",
            str(tmp_path),
        ]
        assert subprocess.run([*base, "--components", "intel.oneapi.lin.nope"]).returncode == 2
        assert subprocess.run([*base, "--bogus"]).returncode == 2


def test_cache_reuses_an_identical_build(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = build_bundle_tree(tmp_path / "a", payload_mb=0.1, cache=cache)
    slots = list(cache.iterdir())
    second = build_bundle_tree(tmp_path / "b", payload_mb=0.1, cache=cache)
    assert list(cache.iterdir()) == slots  # no second build
    a = sorted((p.relative_to(first), p.read_bytes()) for p in first.rglob("*") if p.is_file())
    b = sorted((p.relative_to(second), p.read_bytes()) for p in second.rglob("*") if p.is_file())
    assert a == b
    other = build_bundle_tree(tmp_path / "c", payload_mb=0.2, cache=cache)
    assert len(list(cache.iterdir())) == 2 and other.is_dir()


def test_payload_is_spread_and_incompressible(tmp_path: Path) -> None:
    tree = build_bundle_tree(tmp_path, payload_mb=2.0)
    total = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    assert 2.0 * 2**20 <= total <= 2.4 * 2**20
