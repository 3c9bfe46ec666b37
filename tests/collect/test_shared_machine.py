"""Safe on a shared machine and against an unlucky operator: another user's planted links
and files, two runs at once, SIGTERM, a double Ctrl-C, a Ctrl-C at start-up, bad output
folders, and a cut-off or altered archive under --inspect."""

from __future__ import annotations

import io
import lzma
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.collect.conftest import extract_all, shared_folder

CLI = [sys.executable, "-m", "multiarc.collect"]
NOBODY = 65534


def _run(*args: str, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(path: Path, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(")")[-1].split()[0] != "Z"


@pytest.fixture
def sticky_tmp() -> Iterator[Path]:
    """A world-writable sticky folder, like /tmp (pytest's tmp_path is private)."""
    with shared_folder("multiarc-shared-", 0o1777) as folder:
        yield folder


def _nobody(argv: list[str]) -> list[str]:
    """``argv`` run as the unprivileged user nobody."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another user")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]


def _as_nobody(code: str) -> None:
    subprocess.run(_nobody([sys.executable, "-c", code]), check=True)


def test_planted_links_and_files_are_never_followed(sticky_tmp: Path) -> None:
    victim = sticky_tmp / "victim.txt"
    now = datetime.now(UTC)
    stamps = [(now + timedelta(seconds=s)).strftime("%Y%m%d_%H%M%S") for s in range(-2, 90)]
    hosts = [socket.gethostname(), "host-1"]
    names = [f"multiarc-sysinfo-{h}-{s}{suffix}" for h in hosts for s in stamps
             for suffix in (".tar.xz", ".redaction-map.json")]
    # another user plants a link under every name root's next runs would use
    _as_nobody(
        "import os, sys\n"
        f"open({str(victim)!r}, 'w').write('untouched\\n')\n"
        f"for i, n in enumerate({names!r}):\n"
        f"    p = os.path.join({str(sticky_tmp)!r}, n)\n"
        f"    os.symlink({str(victim)!r}, p) if i % 2 == 0 else open(p, 'w').write('mine')\n"
    )
    before = {p.name: (p.is_symlink(), p.lstat().st_uid) for p in sticky_tmp.iterdir()}
    for extra in ((), ("--redact",)):
        proc = _run("--output", str(sticky_tmp), "--timeout", "5", *extra)
        assert proc.returncode == 0, proc.stderr
        archive = Path(proc.stdout.split()[0])
        assert archive.name not in before and "-2." in archive.name
        assert archive.stat().st_uid == os.geteuid() and archive.stat().st_mode & 0o777 == 0o600
        assert not archive.is_symlink() and extract_all(archive)
    assert victim.read_text() == "untouched\n" and victim.stat().st_uid == NOBODY
    after = {p.name: (p.is_symlink(), p.lstat().st_uid) for p in sticky_tmp.iterdir()
             if p.name in before}
    assert after == before  # every planted link and file is as it was
    for p in sticky_tmp.iterdir():
        if p.name in before and not p.is_symlink():
            assert p.name == "victim.txt" or p.read_text() == "mine"
    assert not list(sticky_tmp.glob(".*partial*"))


def test_two_runs_at_once_into_one_folder(tmp_path: Path) -> None:
    runs = [_start("--output", str(tmp_path), "--timeout", "3") for _ in range(2)]
    outs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outs
    archives = {Path(out.split()[0]) for out, _err in outs}
    assert len(archives) == 2
    for archive in archives:
        check = _run("--inspect", str(archive))
        assert check.returncode == 0, check.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(a.name for a in archives)


@pytest.mark.parametrize(("signals", "status"), [((signal.SIGTERM,), 143),
                                                 ((signal.SIGINT, signal.SIGINT), 130)],
                         ids=["sigterm", "double-ctrl-c"])
def test_interrupt_kills_children_and_leaves_nothing(
    fake_gpu_tools: Path, tmp_path: Path, signals: tuple[int, ...], status: int
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = _start("--output", str(out))
    pid_file = tmp_path / "diag.pid"  # written by the fake xpu-smi diag, which hangs
    _wait_for(pid_file)
    diag = int(pid_file.read_text())
    for signum in signals:
        proc.send_signal(signum)
        time.sleep(0.05)
    _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert "interrupted" in stderr
    assert list(out.iterdir()) == []  # no archive, no partial pieces
    end = time.monotonic() + 10
    while _alive(diag) and time.monotonic() < end:
        time.sleep(0.05)
    assert not _alive(diag)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3])
def test_ctrl_c_during_start_up_is_quiet(tmp_path: Path, delay: float) -> None:
    """A Ctrl-C at any moment of the command's start-up: loading click, rich, the collectors.

    The clock starts when the interpreter has set itself up and runs the entry point's
    first line (an audit hook, installed by a ``sitecustomize`` the test puts on
    PYTHONPATH, marks the moment): a signal before that is CPython's own to report
    ("Fatal Python error: init_import_site", or runpy's traceback while it looks the
    module up), before any code of ours runs, and a loaded machine stretches that window
    past any fixed delay."""
    hook, out = tmp_path / "hook", tmp_path / "out"
    hook.mkdir()
    out.mkdir()
    marker = tmp_path / "site-done"
    (hook / "sitecustomize.py").write_text(
        "import pathlib, sys\n"
        "def _hook(event, args):\n"
        "    if event == 'exec' and args[0].co_filename.endswith('collect/entry.py'):\n"
        f"        pathlib.Path({str(marker)!r}).touch()\n"
        "sys.addaudithook(_hook)\n")
    env = {**os.environ, "PYTHONPATH": str(hook)}
    proc = subprocess.Popen([*CLI, "--output", str(out), "--timeout", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    _wait_for(marker)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    if proc.returncode != 0:  # it may have been too quick to interrupt
        # 130, or killed by the signal itself before Python set up its handlers
        assert proc.returncode in (130, -signal.SIGINT), stderr
        assert list(out.iterdir()) == []


@pytest.mark.parametrize("where", ["proc", "missing-parent", "a-file", "unwritable", "read-only"])
def test_bad_output_is_exit_2_with_a_hint(tmp_path: Path, where: str) -> None:
    target = {"proc": Path("/proc/self/multiarc"), "missing-parent": tmp_path / "a/b/c",
              "a-file": tmp_path / "f", "unwritable": tmp_path / "locked",
              "read-only": tmp_path / "ro"}[where]
    argv = [*CLI, "--output", str(target), "--timeout", "2"]
    if where == "a-file":
        target.write_text("")
    if where == "unwritable":
        target.mkdir(mode=0o755)
        tmp_path.chmod(0o755)
        argv = _nobody(argv)
    if where == "read-only":
        target.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs",
                                  str(target)], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    finally:
        if where == "read-only":
            subprocess.run(["umount", str(target)], check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and lines[1].strip().startswith("hint: "), lines
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "a").exists()  # no deep path made


def test_full_disk_is_exit_3_and_leaves_nothing(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(full)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        proc = _run("--output", str(full), "--timeout", "3")
        left = list(full.iterdir())
    finally:
        subprocess.run(["umount", str(full)], check=False)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("error: ") and "hint: " in proc.stderr
    assert "Traceback" not in proc.stderr and left == []


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    proc = _run("--output", str(tmp_path), "--timeout", "3")
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.split()[0])


def test_inspect_of_a_good_archive_checks_every_member(archive: Path) -> None:
    proc = _run("--inspect", str(archive))
    assert proc.returncode == 0, proc.stderr
    assert "every sha256 matches" in proc.stderr


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.98])
def test_inspect_of_a_cut_off_archive_is_exit_1(archive: Path, keep: float) -> None:
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * keep)])
    proc = _run("--inspect", str(archive))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ") and "hint: " in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("change", "said"), [
    (lambda data: b"X" + data[1:], "sha256 differs"),  # same size, other bytes
    (lambda data: data + b"tampered\n", "bytes, manifest.json says"),  # grown: no read
])
def test_inspect_names_the_altered_member(archive: Path, change: object, said: str) -> None:
    members = extract_all(archive)
    victim = next(n for n in members if n.endswith("memory/meminfo.txt"))
    members[victim] = change(members[victim])  # type: ignore[operator]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(lzma.compress(raw.getvalue()))
    proc = _run("--inspect", str(archive))
    assert proc.returncode == 1
    first = proc.stderr.splitlines()[0]
    assert "memory/meminfo.txt: " in first and said in first


def test_a_signal_after_the_archive_is_published_is_ignored() -> None:
    """From the archive's publication on, the run only reports it: a Ctrl-C or SIGTERM
    there is ignored, never "nothing was written" beside an archive that is there (seen
    with SIGTERM 0.50 s into a bare machine's run). Outside the command (a library user,
    these tests) the handlers are left alone."""
    code = (
        "import signal\n"
        "from multiarc.collect import interrupts\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "interrupts.done()\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
        "interrupts.install()\n"
        "interrupts.done()\n"
        "print([signal.getsignal(s) == signal.SIG_IGN for s in (signal.SIGINT, signal.SIGTERM)])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["True", "[True, True]"], out
