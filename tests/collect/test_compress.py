"""The streamed compressor: progressive xz, a threaded xz for a large member (its own piece,
started at once) and for a large backlog (a second .xz stream), the head members first,
Python's lzma without the xz tool, and a compressor that dies."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from multiarc.collect import compress
from multiarc.collect.archive_check import read_archive
from multiarc.collect.compress import StreamCompressor, _Piece, threaded_xz_argv

from multiarc.errors import EnvironmentNotReady
from tests.collect.conftest import extract_all


def _members() -> dict[str, bytes]:
    rng = random.Random(3)
    log = "".join(
        f"[{i:8d}.000] xe 0000:18:00.0: event {rng.randrange(10**6)}\n" for i in range(4000)
    )
    return {"top/a.txt": b"hello\n", "top/log.txt": log.encode(), "top/empty": b""}


def _write(
    kind: str, target: Path, members: dict[str, bytes], head: dict[str, bytes] | None = None
) -> None:
    comp = StreamCompressor(kind, target)
    for name, data in members.items():
        comp.add(name, data, 0)
    comp.close([(n, d, 0) for n, d in (head or {}).items()])
    assert not list(target.parent.glob(target.name + ".*"))  # no side files left


def _xz_streams(path: Path) -> int:
    out = subprocess.run(["xz", "--robot", "-l", str(path)], capture_output=True, text=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("totals"))
    return int(line.split("\t")[1])


def test_progressive_xz_round_trip(tmp_path: Path) -> None:
    if shutil.which("xz") is None:
        pytest.skip("xz is not installed (the lzma fallback is tested below)")
    members = _members()
    target = tmp_path / "a.tar.xz"
    _write("xz", target, members)
    assert extract_all(target) == members
    # one stream, or two when xz had not taken ~200 kB yet at close() (see the next tests)
    assert _xz_streams(target) in (1, 2)
    # tar itself reads it
    listing = subprocess.run(["tar", "-tJf", str(target)], capture_output=True, text=True)
    assert listing.stdout.split() == list(members)


def test_large_backlog_goes_to_a_threaded_second_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("xz") is None:
        pytest.skip("xz is not installed")
    monkeypatch.setattr(compress, "MT_BACKLOG", 1)  # everything queued at close is "large"
    monkeypatch.setattr(compress, "BACKLOG_MIN_BLOCK", 64 * 1024)
    monkeypatch.setattr(compress, "_cpus", lambda: 2)
    started: list[tuple[str, ...]] = []
    real_start = _Piece._start

    def spy(self: _Piece, argv: tuple[str, ...]):  # type: ignore[no-untyped-def]
        started.append(argv)
        return real_start(self, argv)

    monkeypatch.setattr(_Piece, "_start", spy)
    members = _members()
    target = tmp_path / "b.tar.xz"
    # A feeder that never feeds: everything written is still queued when close() comes.
    monkeypatch.setattr(_Piece, "_feed", lambda self: None)
    _write("xz", target, members)
    assert started[0][1] == "-T1" and any(a.startswith("--block-size=") for a in started[1])
    assert _xz_streams(target) == 2  # two concatenated streams, read as one
    assert extract_all(target) == members
    with tarfile.open(target, "r:xz") as tar:
        assert tar.getnames() == list(members)


def test_a_backlog_is_compressed_while_the_first_xz_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is still queued at close() goes to a second xz (one thread below MT_BACKLOG),
    started before the first one is waited for: the two run at the same time."""
    if shutil.which("xz") is None:
        pytest.skip("xz is not installed")
    events: list[str] = []
    real_start, real_wait = _Piece._start, subprocess.Popen.wait

    def spy_start(self: _Piece, argv: tuple[str, ...]):  # type: ignore[no-untyped-def]
        events.append(f"start {argv[1]}")
        return real_start(self, argv)

    def spy_wait(self: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        events.append("wait")
        return real_wait(self, timeout)

    monkeypatch.setattr(_Piece, "_start", spy_start)
    monkeypatch.setattr(subprocess.Popen, "wait", spy_wait)
    monkeypatch.setattr(_Piece, "_feed", lambda self: None)  # everything stays queued
    members = _members()
    target = tmp_path / "p.tar.xz"
    _write("xz", target, members)
    assert events[:4] == ["start -T1", "start -T1", "wait", "wait"], events
    assert _xz_streams(target) == 2
    assert extract_all(target) == members


def test_a_small_backlog_stays_in_the_first_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("xz") is None:
        pytest.skip("xz is not installed")
    monkeypatch.setattr(_Piece, "_feed", lambda self: None)
    members = {"top/a.txt": b"hello\n" * 1000}  # far below PARALLEL_BACKLOG
    target = tmp_path / "s.tar.xz"
    _write("xz", target, members)
    assert _xz_streams(target) == 1 and extract_all(target) == members


def test_head_first_and_large_member_in_its_own_threaded_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("xz") is None:
        pytest.skip("xz is not installed")
    monkeypatch.setattr(compress, "LARGE_MEMBER", 64 * 1024)
    monkeypatch.setattr(compress, "MT_MIN_BLOCK", 64 * 1024)
    monkeypatch.setattr(compress, "_cpus", lambda: 3)  # two for the large member, one spare
    started: list[tuple[str, ...]] = []
    real_start = _Piece._start

    def spy(self: _Piece, argv: tuple[str, ...]):  # type: ignore[no-untyped-def]
        started.append(argv)
        return real_start(self, argv)

    monkeypatch.setattr(_Piece, "_start", spy)
    members = _members()  # log.txt (~200 kB) is "large" here
    head = {"top/summary.txt": b"summary\n", "top/manifest.json": b"{}"}
    target = tmp_path / "h.tar.xz"
    comp = StreamCompressor("xz", target)
    for name, data in members.items():
        comp.add(name, data, 0)
        if name == "top/log.txt":  # started as soon as the member is there, before close()
            assert len(started) == 2 and "-T2" in started[1], started
    comp.close([(n, d, 0) for n, d in head.items()])
    assert _xz_streams(target) == 3  # head, the large member, the rest
    order = [*head, "top/log.txt", "top/a.txt", "top/empty"]
    assert list(extract_all(target)) == order
    assert extract_all(target) == {**head, **members}
    listing = subprocess.run(["tar", "-tJf", str(target)], capture_output=True, text=True)
    assert listing.stdout.split() == order
    with tarfile.open(target, "r:xz") as tar:
        assert tar.getnames() == order
    assert not list(tmp_path.glob("h.tar.xz.*"))
    # --inspect reads the head of this three-stream file
    check = read_archive(target)
    assert (check.summary, check.manifest) == ("summary\n", {})


def test_zstd_head_first(tmp_path: Path) -> None:
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed")
    members = _members()
    target = tmp_path / "z.tar.zst"
    _write("zstd", target, members, {"top/summary.txt": b"s"})
    assert list(extract_all(target)) == ["top/summary.txt", *members]


def test_threaded_argv_uses_every_cpu_with_sane_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compress, "_cpus", lambda: 8)
    argv = threaded_xz_argv(64 * 2**20)
    assert "-T8" in argv and f"--block-size={8 * 2**20}" in argv
    # Every block 4 MiB or more, all the same size: no small last block (each block starts
    # with an empty dictionary). A 10 MB dmesg is two blocks however many CPUs there are.
    small = threaded_xz_argv(9 * 2**20)
    assert "-T2" in small and f"--block-size={9 * 2**19}" in small
    assert "-T2" in threaded_xz_argv(10 * 2**20 + 1024)
    assert "-T3" in threaded_xz_argv(12 * 2**20)
    assert "-T7" in threaded_xz_argv(64 * 2**20, spare=1)
    # Two CPUs, one kept for the collection: one thread, one block (the best ratio).
    monkeypatch.setattr(compress, "_cpus", lambda: 2)
    assert threaded_xz_argv(10 * 2**20, spare=1) == compress.XZ_ONE_THREAD
    assert threaded_xz_argv(3 * 2**20) == compress.XZ_ONE_THREAD  # no block to share


@pytest.mark.skipif(shutil.which("xz") is None, reason="needs the xz tool")
def test_a_large_members_compressor_ends_without_waiting_for_the_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The large member's xz (threaded, two blocks) gets its end of input at once and
    finishes while the slow tools are still waited for; it used to hold its last block
    until close()."""
    monkeypatch.setattr(compress, "_cpus", lambda: 2)
    line = b"[    1.000000] xe 0000:18:00.0: [drm] GT0: GuC firmware loaded\n"
    large = line * (9 * 2**20 // len(line))
    comp = StreamCompressor("xz", tmp_path / "e.tar.xz")
    comp.add("top/dmesg.txt", large, 0)
    (piece,) = comp._large
    proc = piece._procs[0]
    assert "-T2" in proc.args  # type: ignore[operator]
    proc.wait(timeout=60)  # before close(): it did not wait for it
    assert proc.returncode == 0
    comp.close([])
    assert extract_all(tmp_path / "e.tar.xz")["top/dmesg.txt"] == large


def _stream_dicts(path: Path) -> list[str]:
    """The LZMA2 dictionary size of each stream of an .xz file, as xz itself reads them."""
    out = subprocess.run(["xz", "--robot", "-lvv", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return [field.split("dict=")[1].split(",")[0] for line in out.splitlines()
            if line.startswith("block") for field in line.split("\t") if "dict=" in field]


@pytest.mark.skipif(shutil.which("xz") is None, reason="needs the xz tool")
def test_small_members_are_compressed_fast_and_a_large_one_for_ratio(tmp_path: Path) -> None:
    """The stream of small members, the one the archive waits for at the end, is xz -6 (8
    MiB dictionary); a large member's own stream is xz -9 (64 MiB)."""
    rng = random.Random(5)
    large = "".join(f"[{i:9d}] xe: event {rng.randrange(10**9)}\n"
                    for i in range(compress.LARGE_MEMBER // 20)).encode()
    target = tmp_path / "s.tar.xz"
    _write("xz", target, {**_members(), "top/dmesg.txt": large}, {"top/summary.txt": b"s"})
    dicts = _stream_dicts(target)
    assert "8MiB" in dicts and "64MiB" in dicts
    assert extract_all(target)["top/dmesg.txt"] == large


def test_python_lzma_without_the_xz_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compress.shutil, "which", lambda _name: None)
    members = _members()
    target = tmp_path / "c.tar.xz"
    _write("xz", target, members)
    assert extract_all(target) == members


def test_zstd_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compress.shutil, "which", lambda _name: None)
    with pytest.raises(EnvironmentNotReady, match="zstd is not installed"):
        StreamCompressor("zstd", tmp_path / "d.tar.zst")
    assert not (tmp_path / "d.tar.zst").exists()


def test_dying_compressor_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "xz"
    fake.write_text("#!/bin/sh\nhead -c 10 >/dev/null; exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    comp = StreamCompressor("xz", tmp_path / "e.tar.xz")
    with pytest.raises(EnvironmentNotReady, match="failed while writing the archive"):
        comp.add("x", io.BytesIO(b"y" * 2**20).read(), 0)
        comp.close()
    comp.abort()


def test_partial_pipe_writes_are_completed(tmp_path: Path) -> None:
    """A pipe may take only part of a large write; the rest must follow, in order."""

    class Trickle:
        def __init__(self) -> None:
            self.got = bytearray()

        def write(self, data: memoryview) -> int:
            taken = bytes(data[:1000])
            self.got += taken
            return len(taken)

    piece = _Piece("xz", tmp_path / "p", None, progressive=False)
    sink = Trickle()
    piece._sink = sink  # type: ignore[assignment]
    data = bytes(range(256)) * 50
    piece._write_all(data)
    assert bytes(sink.got) == data
    piece.abort()
