"""The fleet parts of multiarc-collect-sysinfo that need no node: the collector shipped as
one .pyz, one token table for many archives, hostile node archives, bad --inventory input.
(The fleet itself, over SSH into four real roots, is tests/integration/test_fleet.py.)"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.collect import fleet_tokens
from multiarc.collect.archive import BuildOptions, build_archive
from multiarc.collect.archive_check import read_archive
from multiarc.collect.cli import main
from multiarc.collect.context import Context
from multiarc.collect.fleet_run import FleetCollectOptions, node_arguments
from multiarc.collect.fleet_tokens import ArchiveRefused, FleetMap, Renumber, rewrite_archive
from multiarc.collect.fleet_zipapp import build_zipapp, shared_modules

from multiarc.fleet import FleetHost
from tests.collect.conftest import extract_all

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no system python3")
def test_the_shipped_collector_runs_on_a_bare_python(tmp_path: Path) -> None:
    """What a node has: the distribution's python3, no multiarc, no psutil, no rich.
    Isolated mode (-I) ignores this environment's site-packages and PYTHONPATH."""
    pyz = build_zipapp(tmp_path / "multiarc-collect.pyz")
    assert SYSTEM_PYTHON is not None
    done = subprocess.run(
        [SYSTEM_PYTHON, "-I", str(pyz), "--output", str(tmp_path / "out"), "--timeout", "5",
         "--redact", "--host-name", "rack-node-7", "--map", str(tmp_path / "node.map")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    path, _, digest = done.stdout.strip().splitlines()[-1].rpartition("  sha256:")
    check = read_archive(Path(path), verify=True)
    assert check.problems == [] and check.checked > 20 and len(digest) == 64
    assert "psutil" not in done.stderr and "Traceback" not in done.stderr
    cpu = next(f for f in check.manifest["files"] if f["name"] == "cpu/probes.json")
    assert cpu["status"] == "ok"
    assert json.loads((tmp_path / "node.map").read_text())


def test_the_shipped_modules_follow_every_import_of_multiarc(tmp_path: Path) -> None:
    """Each spelling of an import of a top-level multiarc module, lazy ones too, and the
    shared modules' own imports; subpackages and other libraries are not shipped this way."""
    top, package = tmp_path / "multiarc", tmp_path / "multiarc" / "collect"
    package.mkdir(parents=True)
    for name in ("errors", "paths", "clock", "chain", "unused", "lazy"):
        (top / f"{name}.py").write_text("")
    (top / "paths.py").write_text("from multiarc.chain import x\n")
    (package / "a.py").write_text(
        "import multiarc.errors as e\nfrom multiarc import paths, collect\n"
        "from multiarc.collection import ROOT\nimport click\n"
        "def later():\n    from multiarc.clock import now\n    import multiarc.lazy\n"
    )
    assert shared_modules(package, top) == [
        "__init__.py", "chain.py", "clock.py", "errors.py", "lazy.py", "paths.py",
    ]  # fmt: skip


def test_fleet_map_gives_one_token_per_value_across_nodes() -> None:
    fleet = FleetMap({"<host-1>": "known-node"})  # an earlier --map: numbering goes on
    first = fleet.translation({"<host-1>": "node-a", "<ip-1>": "10.0.0.9", "<ip-2>": "10.0.0.1"})
    second = fleet.translation({"<ip-1>": "10.0.0.1", "<host-1>": "known-node", "<ip-2>": "x"})
    assert first == {"<host-1>": "<host-2>", "<ip-1>": "<ip-1>", "<ip-2>": "<ip-2>"}
    assert second == {"<host-1>": "<host-1>", "<ip-1>": "<ip-2>", "<ip-2>": "<ip-3>"}
    assert fleet.mapping()["<ip-2>"] == "10.0.0.1"


def test_renumbering_is_one_simultaneous_pass() -> None:
    fix = Renumber({"<host-1>": "<host-2>", "<host-2>": "<host-1>", "<ip-10>": "<ip-3>"})
    assert (
        fix.data(b"a <host-1> b <host-2> <ip-10> <ip-1>") == b"a <host-2> b <host-1> <ip-3> <ip-1>"
    )
    assert fix.name("logs/install-host-1-x/host-2.log") == "logs/install-host-2-x/host-1.log"
    # an AWS-style host name is not a token, nor is ip-100 or a token the node did not make
    assert fix.name("ip-10-0-0-5 ip-100 ghost-1") == "ip-3-0-0-5 ip-100 ghost-1"
    assert fix.data(b"ip-10-0-0-5 no brackets") == b"ip-10-0-0-5 no brackets"


def _redacted_archive(tmp_path: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A real archive of this machine under --redact, and its token table."""
    out = tmp_path / name
    table = tmp_path / f"{name}.map"
    ctx = Context(timeout_cap=3)
    result = build_archive(BuildOptions(out, redact=True, map_file=table), ctx)
    return result.path, json.loads(table.read_text())


def test_a_rewritten_archive_passes_inspect_with_the_fleet_tokens(tmp_path: Path) -> None:
    source, node_map = _redacted_archive(tmp_path, "node")
    before = source.read_bytes()
    fleet = FleetMap({"<host-1>": "another-node", "<ip-1>": "192.0.2.77"})
    translation = fleet.translation(node_map)
    target = tmp_path / "fleet"
    target.mkdir()
    final = rewrite_archive(source, target, translation, "xz")
    assert source.read_bytes() == before  # the node's archive stays as it was
    check = read_archive(final, verify=True)
    assert check.problems == [] and check.checked > 20
    this_host = translation["<host-1>"]
    assert this_host == "<host-2>" and check.manifest["host"] == "host-2"
    assert final.name.startswith("multiarc-sysinfo-host-2-")
    members = extract_all(final)
    assert all(n.startswith(final.name.removesuffix(".tar.xz") + "/") for n in members)
    hostname = next(v for n, v in members.items() if n.endswith("system/hostname.txt"))
    assert hostname.strip() == this_host.encode()
    assert list(target.iterdir()) == [final]  # no partial piece left


def _node_archive(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:xz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _file(name: str, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


@pytest.mark.parametrize(
    "shape",
    ["symlink", "parent", "absolute", "manifest-not-second", "huge", "manifest-not-json"],
)
def test_a_hostile_node_archive_is_refused_and_leaves_nothing(
    tmp_path: Path, shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = "multiarc-sysinfo-host-1-20250101_000000"
    head = [_file(f"{top}/summary.txt"), _file(f"{top}/manifest.json")]
    link = tarfile.TarInfo(f"{top}/system/hosts.txt")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    members = {
        "symlink": [*head, link],
        "parent": [*head, _file(f"{top}/../../etc/cron.d/x")],
        "absolute": [*head, _file("/etc/cron.d/x")],
        "manifest-not-second": [head[0], _file(f"{top}/a.txt"), head[1]],
        "huge": [*head, _file(f"{top}/big.log", 64)],
        "manifest-not-json": head,
    }[shape]
    monkeypatch.setattr(fleet_tokens, "MEMBER_LIMIT", 32)
    source = _node_archive(tmp_path / "node.tar.xz", members, b"x" * 64)
    target = tmp_path / "fleet"
    target.mkdir()
    with pytest.raises(ArchiveRefused):
        rewrite_archive(source, target, {"<host-1>": "<host-4>"}, "xz")
    assert list(target.iterdir()) == []


def test_node_arguments_pass_every_option_and_the_rack_names() -> None:
    hosts = [
        FleetHost("node1", {"ansible_host": "10.1.1.1"}),
        FleetHost("n2", {"ansible_host": "n2.rack"}),
    ]
    build = BuildOptions(redact=True, compression="zstd", max_workers=4, domains=("corp.example",),
                         keywords=("acme",), host_names=("alias1",))  # fmt: skip
    args = node_arguments(FleetCollectOptions(Path("rack.ini"), build, since="-2h",
                                              timeout_cap=9.0), hosts)  # fmt: skip
    text = " ".join(args)
    for part in ("--compression zstd", "--jobs 4", "--since -2h", "--timeout 9.0", "--redact",
                 "--domain corp.example", "--keyword acme", "--host-name alias1",
                 "--host-name node1", "--host-name n2 ", "--host-name n2.rack"):  # fmt: skip
        assert part in text + " ", part
    assert "10.1.1.1" not in text  # an address is a token of its own
    plain = node_arguments(FleetCollectOptions(Path("rack.ini"), BuildOptions()), hosts)
    assert "--redact" not in plain and "--host-name" not in plain


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--inventory", "{tmp}/missing.ini"], "inventory file not found"),
        (["--inventory", "{tmp}/empty.ini"], "defines no hosts"),
        (["--inventory", "{tmp}/rack.ini", "--limit", "nosuch"], "matches no host"),
        (["--limit", "node1"], "--limit needs --inventory"),
        (["--inventory", "{tmp}/rack.ini", "--inspect", "{tmp}/x.tar.xz"], "do not go together"),
        (["--inventory", "{tmp}/rack.ini", "--forks", "0"], "--forks"),
        (["--inventory", "{tmp}/rack.ini", "--map", "{tmp}/m.json"], "need --redact"),
    ],
)
def test_bad_fleet_input_is_one_error_and_a_hint(
    tmp_path: Path, args: list[str], says: str
) -> None:
    (tmp_path / "empty.ini").write_text("# no hosts\n[rack]\n")
    (tmp_path / "rack.ini").write_text("[rack]\nnode1 ansible_host=127.0.0.1\n")
    (tmp_path / "x.tar.xz").write_bytes(b"")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, [*args, "--output", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert any(line.startswith("error:") and says in line for line in lines), result.output
    assert any(line.strip().startswith("hint:") for line in lines), result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing made before the input was checked


@pytest.mark.parametrize(
    "printed", ["/tmp/x/../../etc/passwd", "/tmp/x/..", "/tmp/evil name.tar.xz"]
)
def test_a_node_that_misnames_its_archive_is_refused(tmp_path: Path, printed: str) -> None:
    """The node's last line names the archive; a hostile node cannot choose where or under
    which name it lands on the controller."""
    from multiarc.collect import fleet_run

    from multiarc import fleet

    folder = tmp_path / "fleet"
    (folder / ".fetch" / "node1").mkdir(parents=True)
    fetched = folder / ".fetch" / "node1" / "archive"
    fetched.write_bytes(b"not even an archive")
    seen = fleet_run._Seen(lambda _line: None)
    digest = fleet_run._sha256(fetched)
    seen.printed["node1"] = (printed, digest)
    opts = FleetCollectOptions(Path("rack.ini"), BuildOptions())
    entry = fleet_run._take(
        opts, ("node1", "node1"), folder, seen, fleet.HostEvents(print), FleetMap()
    )
    assert entry.status == "failed" and "named its archive" in entry.reason, entry
    assert sorted(p.name for p in folder.iterdir()) == [".fetch"]
