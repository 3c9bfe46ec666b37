"""Test nodes: a debootstrapped Debian trixie root served over SSH on loopback.

The image is built once with ``debootstrap --variant=minbase`` and cached as a zstd tarball
under ``~/.cache/multiarc-tests/`` keyed by its package list. Each :class:`Node` is a fresh
copy of it: the image is unpacked once per session into a read-only *lower* folder and
every node is a copy of it (``cp -a``; an overlay would be faster, but grub-probe cannot
resolve an overlay root), with
``/proc``, ``/sys`` and ``/dev`` bind-mounted and ``sshd`` running chrooted on
127.0.0.1:PORT. Everything started is stopped by PID, every mount is unmounted in reverse
order, also when a test fails.

Also a command line for developers: ``python tests/integration/rootfs.py build`` builds (or
finds) the cached image and prints its path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUITE = "trixie"
# What a node needs beyond minbase: Ansible's Python and apt bindings, SSH, the boot tools the
# kernel/grub/firmware roles drive, AppArmor's parser config, xz for the bundle transfer.
PACKAGES = (
    "python3",
    "python3-apt",
    "openssh-server",
    "grub-common",
    "grub2-common",
    "grub-pc-bin",
    "initramfs-tools",
    "zstd",
    "xz-utils",
    "apparmor",
)
CACHE_DIR = Path(os.environ.get("MULTIARC_TEST_CACHE", Path.home() / ".cache" / "multiarc-tests"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# A kernel the "machine" already boots, newer than the bundle's so that the bundle's kernel
# lands in GRUB's "Advanced options" submenu (as on a real Ubuntu host with a newer kernel).
EXISTING_KERNEL = "6.99.0-1-testnode"
USER_GRUB_CMDLINE = "quiet splash mitigations=off"
IMAGE_FORMAT = 2  # bump when _prepare changes


class HarnessUnavailable(RuntimeError):
    """The machine cannot host test nodes (not root, no debootstrap): the tests skip."""


def require_harness() -> None:
    if os.geteuid() != 0:
        raise HarnessUnavailable("integration tests need root (chroot, mounts, debootstrap)")
    for tool in ("debootstrap", "chroot", "mount", "ssh", "ssh-keygen", "tar", "zstd"):
        if shutil.which(tool) is None:
            raise HarnessUnavailable(f"{tool} not found (tests/run.sh installs it)")


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine is configured with (deb822 or one-line sources)."""
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        for match in re.finditer(r"(?:URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text, re.M):
            uri = match.group(1).rstrip("/")
            if uri.endswith("/debian") and uri.startswith(("http://", "https://")):
                return uri
    return DEFAULT_MIRROR


def image_key() -> str:
    text = "\n".join(
        [str(IMAGE_FORMAT), SUITE, "minbase", *sorted(PACKAGES), EXISTING_KERNEL, USER_GRUB_CMDLINE]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_path() -> Path:
    return CACHE_DIR / f"rootfs-{SUITE}-{image_key()}.tar.zst"


def build_image(log: Path | None = None) -> Path:
    """The cached root image; debootstrap it first when missing (about a minute)."""
    require_harness()
    target = image_path()
    if target.is_file():
        return target
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-build-", dir=CACHE_DIR))
    root = work / "root"
    try:
        out = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(root),
                debian_mirror(),
            ],
            capture_output=True,
            text=True,
        )
        if log is not None:
            log.write_text(out.stdout + out.stderr)
        if out.returncode != 0:
            tail = (out.stdout + out.stderr).strip().splitlines()[-5:]
            raise RuntimeError("debootstrap failed: " + " | ".join(tail))
        _prepare(root)
        partial = work / target.name
        subprocess.run(
            [
                "tar",
                "--zstd",
                "-C",
                str(root),
                "--numeric-owner",
                "--xattrs",
                "-cf",
                str(partial),
                ".",
            ],
            check=True,
        )
        os.replace(partial, target)
        return target
    finally:
        unmount_below(root)
        shutil.rmtree(work, ignore_errors=True)


def _prepare(root: Path) -> None:
    """What a freshly installed server has and debootstrap leaves out."""
    (root / "etc" / "hostname").write_text("multiarc-node\n")
    (root / "run" / "sshd").mkdir(parents=True, exist_ok=True)
    (root / "lib" / "firmware" / "xe").mkdir(parents=True, exist_ok=True)
    (root / "root" / ".ssh").mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "etc" / "default" / "grub").write_text(
        "# test node: as a distribution installs it\n"
        "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n"
        "GRUB_DISTRIBUTOR=`( . /etc/os-release; echo ${NAME:-Debian} ) 2>/dev/null`\n"
        f'GRUB_CMDLINE_LINUX_DEFAULT="{USER_GRUB_CMDLINE}"\nGRUB_CMDLINE_LINUX=""\n'
    )
    boot = root / "boot"
    boot.mkdir(exist_ok=True)
    (boot / f"vmlinuz-{EXISTING_KERNEL}").write_bytes(b"not a kernel: test node image\n")
    (boot / f"config-{EXISTING_KERNEL}").write_text("# test node\n")
    (boot / "grub").mkdir(exist_ok=True)
    mounted = []
    try:
        for sub in ("proc", "sys", "dev"):
            subprocess.run(["mount", "--bind", f"/{sub}", str(root / sub)], check=True)
            mounted.append(root / sub)
        subprocess.run(["chroot", str(root), "update-grub"], capture_output=True, check=True)
    finally:
        for point in reversed(mounted):
            subprocess.run(["umount", str(point)], check=False)
    # apt's own lists are of no use offline; the bundle's local repository is the source
    for lists in (root / "var" / "lib" / "apt" / "lists").glob("*_Packages"):
        lists.unlink()
    (root / "etc" / "apt" / "sources.list").write_text("")
    for cache in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        cache.unlink()


# -- nodes ----------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _mounted(path: Path) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as handle:
        return any(line.split()[4] == real for line in handle)


def processes_in(root: Path) -> list[int]:
    """PIDs of the processes running chrooted into root."""
    real = os.path.realpath(root)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/root") == real:
                found.append(int(pid))
    return found


def kill_processes_in(root: Path) -> None:
    """SIGKILL every process still running inside root (a killed install's dpkg, say)."""
    for pid in processes_in(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def unmount_below(root: Path) -> None:
    """Unmount everything at or below root, deepest first (also after a failed setup)."""
    real = os.path.realpath(root)
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    below = [p for p in points if p == real or p.startswith(real + "/")]
    for point in sorted(set(below), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def unpack_image(image: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["tar", "--zstd", "-C", str(dest), "--numeric-owner", "--xattrs", "-xf", str(image)],
        check=True,
    )
    return dest


@dataclass
class Node:
    """One test node: a writable root over the shared lower image, served by chrooted sshd."""

    name: str
    lower: Path
    workdir: Path
    key: Path
    address: str = "127.0.0.1"
    port: int = 0
    root: Path = field(init=False)
    _mounts: list[Path] = field(default_factory=list, init=False)
    _sshd: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.root = self.workdir / "root"

    # lifecycle
    def start(self) -> Node:
        # A full copy, not an overlay: grub-probe (update-grub) cannot resolve an overlay root.
        self.root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["cp", "-a", "--reflink=auto", f"{self.lower}/.", str(self.root)], check=True
        )
        for sub, how in (("proc", "--bind"), ("sys", "--rbind"), ("dev", "--rbind")):
            point = self.root / sub
            point.mkdir(exist_ok=True)
            subprocess.run(["mount", how, f"/{sub}", str(point)], check=True)
            self._mounts.append(point)
            if how == "--rbind":
                subprocess.run(["mount", "--make-rslave", str(point)], check=True)
        (self.root / "run" / "sshd").mkdir(parents=True, exist_ok=True)
        auth = self.root / "root" / ".ssh" / "authorized_keys"
        auth.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        auth.write_text(Path(f"{self.key}.pub").read_text())
        auth.chmod(0o600)
        self.port = self.port or free_port(self.address)
        self._sshd = subprocess.Popen(
            [
                "chroot",
                str(self.root),
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-p",
                str(self.port),
                "-o",
                f"ListenAddress={self.address}",
                "-o",
                "PermitRootLogin=prohibit-password",
                "-o",
                "UseDNS=no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "sshd.log", "wb"),  # noqa: SIM115 (closed with the process)
            start_new_session=True,
        )
        self._wait_for_ssh()
        return self

    def _wait_for_ssh(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._sshd is not None and self._sshd.poll() is not None:
                log = (self.workdir / "sshd.log").read_text(errors="replace")
                raise RuntimeError(f"sshd in {self.root} exited: {log.strip()[-400:]}")
            if self.ssh("true", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"sshd on {self.address}:{self.port} did not answer in {timeout} s")

    def stop(self) -> None:
        if self._sshd is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._sshd.pid, signal.SIGTERM)  # sshd and its sessions
            try:
                self._sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._sshd.pid, signal.SIGKILL)
                self._sshd.wait(timeout=10)
            self._sshd = None
        kill_processes_in(self.root)
        for point in reversed(self._mounts):
            if point.name in ("sys", "dev"):
                subprocess.run(["umount", "-R", str(point)], capture_output=True, check=False)
            else:
                subprocess.run(["umount", str(point)], capture_output=True, check=False)
        self._mounts.clear()
        unmount_below(self.root)  # anything a test mounted itself

    @property
    def sshd_pid(self) -> int | None:
        """The chrooted sshd's PID (its process group: sshd and its sessions), once started."""
        return self._sshd.pid if self._sshd is not None else None

    # use
    def ssh(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", *self.ssh_options(), "-p", str(self.port), f"root@{self.address}", command],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def ssh_options(self) -> list[str]:
        return [
            "-i",
            str(self.key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
        ]

    def inventory_line(self) -> str:
        return (
            f"{self.name} ansible_host={self.address} ansible_port={self.port} "
            f"ansible_user=root ansible_ssh_private_key_file={self.key} "
            "ansible_python_interpreter=/usr/bin/python3 "
            "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'"
        )

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")


def write_inventory(nodes: list[Node], path: Path) -> Path:
    path.write_text("[nodes]\n" + "".join(n.inventory_line() + "\n" for n in nodes))
    return path


def make_key(folder: Path) -> Path:
    key = folder / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "multiarc-tests", "-f", str(key)],
            check=True,
        )
    return key


@contextlib.contextmanager
def running_node(
    name: str, lower: Path, workdir: Path, key: Path, address: str = "127.0.0.1"
) -> Iterator[Node]:
    node = Node(name, lower, workdir, key, address)
    try:
        yield node.start()
    finally:
        node.stop()


def snapshot(root: Path, skip: tuple[str, ...] = ("proc", "sys", "dev", "run", "tmp")) -> dict:
    """path → (mode, size, mtime_ns, link target) of everything in a root (for "unchanged")."""
    seen: dict[str, tuple[int, int, int, str]] = {}
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        if rel_top == ".":
            dirs[:] = [d for d in dirs if d not in skip]
        for name in dirs + files:
            full = os.path.join(top, name)
            st = os.lstat(full)
            target = os.readlink(full) if os.path.islink(full) else ""
            seen[os.path.relpath(full, root)] = (st.st_mode, st.st_size, st.st_mtime_ns, target)
    return seen


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build_image(Path(tempfile.gettempdir()) / "multiarc-debootstrap.log"))
    else:
        print("usage: rootfs.py build", file=sys.stderr)
        sys.exit(2)
