"""Secrets in every common spelling, planted in a fake root, in the environment and in an
evaluation's results, never reach either archive (with or without --redact); what was
removed is listed by kind and file in manifest.json, never by value. --redact also covers
GPU serials, PCIe DSNs, DMI ids, member names, --domain and --keyword, and replaces the
host name only in context."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from multiarc.collect.cli import main

from tests.collect.conftest import extract_all, write_tool

# value planted -> where (the test fails naming it when it leaks)
HF = "hf_" + "Qx7" * 12
GHP = "ghp_" + "A1b2" * 9
GH_PAT = "github_pat_" + "11ABCDEFG0" * 5
GLPAT = "glpat-" + "xYz12" * 5
AWS = "AKIA" + "QWERTYUIOPASDFGH"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
BEARER = "Bearer " + "tok" * 8
SECRETS = {
    "bare-proxy": "Fr4nkPw",  # https_proxy=frank:Fr4nkPw@proxy:3128 (no scheme)
    "at-password": "p@ssw0rd/x:%40y",  # http://dave:p@ssw0rd/x:%40y@proxy
    "apt-http": "AptHttpPw1",
    "apt-https": "AptHttpsPw2",
    "apt-ftp": "AptFtpPw3",
    "docker": "D0ckerPw",
    "containerd": "C0ntainerdPw",
    "pip": "P1pPw5",
    "pip-index": "P1pIdxTok",
    "npm-token": "npm_" + "n" * 36,
    "npm-proxy": "NpmPw99",
    "yarn": "YarnPw77",
    "sources": "S0urcePw",
    "env-token": "EnvT0kenValue",
    "env-key": "EnvKeyValue42",
    "env-password": "EnvPassw0rdValue",
    "hf": HF,
    "ghp": GHP,
    "github-pat": GH_PAT,
    "glpat": GLPAT,
    "aws": AWS,
    "jwt": JWT,
    "bearer": "tok" * 8,
    "netrc": "NetrcPw",
    "ssh-key": "PRIVATEKEYBODY",
    "dotenv": "DotEnvSecret",
    "curl-user": "CurlPw9x",
    "sshpass": "SshPassPw",
    "webhook": "XyZwebhook0123456789",
    "cli-token": "CliT0kenPw",
    "xml-password": "XmlPassPw",
    "cookie": "C00kieSid",
    "psk": "WifiPskPw",
}
GPU_SERIALS = ("LQAC50600012", "LQAC50600013", "11-22-33-44-55-66-77-88")
DMI = ("DMISERIAL9", "4c4c4544-0042-3510-8052-b7c04f4b3399")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def hostile_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    s = SECRETS
    _write(root / "etc/hostname", "ubuntu\n")
    _write(root / "etc/hosts",
           "127.0.0.1 localhost\n127.0.1.1 ubuntu\n10.9.8.7 gpu01.corp.example\n")
    _write(root / "etc/os-release", 'ID=ubuntu\nVERSION_ID="25.04"\n'
           'HOME_URL="https://www.ubuntu.com/"\nPRETTY_NAME="Ubuntu 25.04"\n')
    _write(root / "etc/environment",
           f"https_proxy=frank:{s['bare-proxy']}@proxy.corp.example:3128\n"
           f'http_proxy="http://dave:{s["at-password"]}@proxy.corp.example:8080"\n'
           "no_proxy=localhost,127.0.0.1,.corp.example\n")
    _write(root / "etc/apt/apt.conf.d/95proxy",
           f'Acquire::http::Proxy "http://u1:{s["apt-http"]}@proxy:3128/";\n'
           f'Acquire::https::Proxy "https://u2:{s["apt-https"]}@proxy:3128/";\n'
           f'Acquire::ftp::Proxy "ftp://u3:{s["apt-ftp"]}@proxy:21/";\n')
    _write(root / "etc/systemd/system/docker.service.d/http-proxy.conf",
           f'[Service]\nEnvironment="HTTPS_PROXY=http://dock:{s["docker"]}@proxy:3128" '
           '"NO_PROXY=localhost,.corp.example"\n')
    _write(root / "etc/systemd/system/containerd.service.d/proxy.conf",
           f"[Service]\nEnvironment=HTTP_PROXY=ctr:{s['containerd']}@proxy:3128\n")
    _write(root / "etc/pip.conf", f"[global]\nproxy = http://pipu:{s['pip']}@proxy:3128\n"
           f"index-url = https://tok:{s['pip-index']}@pypi.corp.example/simple\n")
    _write(root / "etc/npmrc", f"//registry.npmjs.org/:_authToken={s['npm-token']}\n"
           f"https-proxy=http://npmu:{s['npm-proxy']}@proxy:3128\n")
    _write(root / "etc/yarnrc", f'https-proxy "http://yarnu:{s["yarn"]}@proxy:3128"\n')
    _write(root / "etc/apt/sources.list.d/private.list",
           f"deb https://apt:{s['sources']}@apt.corp.example/ubuntu plucky main\n")
    # an evaluation's results: tokens in a log, and files that are never collected
    run = tmp_path / "cwd/results/20250101_120000"
    _write(run / "report.json", json.dumps({"verdict": "PASS",
                                            "meta": {"replay": {"recording": "/x/b60x4"}}}))
    _write(run / "steps.log",
           f"HF_TOKEN {HF}\ngit remote https://x:{GHP}@github.com/a\npat {GH_PAT}\n"
           f"gitlab {GLPAT}\naws {AWS}\njwt {JWT}\ncurl -H 'Authorization: {BEARER}'\n"
           "project ProjectZeus on a.b.corp.example\n"
           f"curl -u alice:{s['curl-user']} https://x\nsshpass -p {s['sshpass']} ssh h\n"
           f"notify https://hooks.slack.com/services/T01/B02/{s['webhook']}\n"
           f"vllm serve m --api-key {s['cli-token']} --port 8000\n"
           f"<password>{s['xml-password']}</password>\nCookie: sid={s['cookie']}\n"
           f"psk={s['psk']}\n")
    _write(run / ".netrc", f"machine h login u password {s['netrc']}\n")
    _write(run / "id_rsa", f"-----BEGIN OPENSSH PRIVATE KEY-----\n{s['ssh-key']}\n")
    _write(run / ".env", f"DB_URL=x\nSECRET={s['dotenv']}\n")
    _write(root / "var/log/multiarc/install-ubuntu-20250101.log", "installed on ubuntu\n")
    for name, value in (("product_serial", DMI[0]), ("product_uuid", DMI[1]),
                        ("sys_vendor", "Example")):
        _write(root / "sys/class/dmi/id" / name, value + "\n")
    bin_dir = tmp_path / "bin"
    write_tool(bin_dir, "xpu-smi", f"""\
        case "$1" in
          discovery) if [ "$2" = "-j" ]; then
                echo '{{"device_list": [{{"device_id": 0, "serial_number": "{GPU_SERIALS[1]}"}}]}}'
              else echo "| 0 | Device Name: Intel(R) Arc(TM) Pro B60 Graphics |"
                   echo "|   | Serial Number: {GPU_SERIALS[0]} |"; fi ;;
          *) exit 0 ;;
        esac
        """)
    write_tool(bin_dir, "lspci", f"""\
        echo "03:00.0 VGA compatible controller: Intel Corporation Device e211"
        echo "	Capabilities: [150 v1] Device Serial Number {GPU_SERIALS[2]}"
        """)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("HF_TOKEN", HF)
    monkeypatch.setenv("MY_SERVICE_TOKEN", s["env-token"])
    monkeypatch.setenv("OPENAI_API_KEY", s["env-key"])
    monkeypatch.setenv("DB_PASSWORD", s["env-password"])
    monkeypatch.setenv("ZE_AFFINITY_MASK", "0,1")
    monkeypatch.setenv("https_proxy", f"frank:{s['bare-proxy']}@proxy.corp.example:3128")
    monkeypatch.chdir(tmp_path / "cwd")
    return root


def _collect(root: Path, out: Path, *extra: str) -> tuple[dict[str, bytes], dict]:
    result = CliRunner().invoke(main, ["--root", str(root), "--output", str(out),
                                       "--timeout", "5", *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    archive = Path(result.stdout.strip().splitlines()[-1].split()[0])
    assert archive.stat().st_mode & 0o777 == 0o600
    members = extract_all(archive)
    top = next(iter(members)).split("/")[0]
    return {k.split("/", 1)[1]: v for k, v in members.items()}, json.loads(
        members[f"{top}/manifest.json"])


def _leaks(members: dict[str, bytes], values: object) -> list[str]:
    """Each planted value still found, with the member it is in."""
    found = []
    for value in values:  # type: ignore[attr-defined]
        where = [n for n, data in members.items() if str(value).encode() in data or str(value) in n]
        found += [f"{value} in {w}" for w in where]
    return found


@pytest.mark.parametrize("redact", [False, True], ids=["plain", "redacted"])
def test_no_secret_in_either_archive(hostile_root: Path, tmp_path: Path, redact: bool) -> None:
    extra = ("--redact", "--domain", "corp.example", "--keyword", "ProjectZeus") if redact else ()
    members, manifest = _collect(hostile_root, tmp_path / "out", *extra)
    assert _leaks(members, SECRETS.values()) == []
    # the planted files were collected (else this would prove nothing) ...
    assert "system/etc-environment.txt" in members and "system/pip.conf" in members
    assert "apt/sources.list.d/private.list" in members
    assert "multiarc/last-results/20250101_120000/steps.log" in members
    # ... and the credential files were not
    assert not [n for n in members if n.endswith((".netrc", "id_rsa", ".env"))]
    removed = manifest["secrets_removed"]
    kinds = {r["kind"] for r in removed}
    assert {"huggingface-token", "github-token", "gitlab-token", "aws-access-key", "jwt",
            "credentials", "url-credentials"} <= kinds, kinds
    assert all(set(r) == {"file", "kind", "count"} for r in removed)
    assert _leaks({"m": json.dumps(removed).encode()}, SECRETS.values()) == []
    env = members["system/etc-environment.txt"].decode()
    assert "no_proxy=localhost,127.0.0.1," in env  # no_proxy lists are kept
    assert "ZE_AFFINITY_MASK=0,1" in members["compute/environment.txt"].decode()
    summary = members["summary.txt"].decode()
    assert "Last evaluation: PASS (RECORDING b60x4, not this machine" in summary
    if not redact:
        assert "proxy.corp.example" in env and GPU_SERIALS[0].encode() in members[
            "gpu/xpu-smi-discovery.txt"]


def test_redact_covers_identities_in_context(hostile_root: Path, tmp_path: Path) -> None:
    members, manifest = _collect(hostile_root, tmp_path / "out", "--redact", "--domain",
                                 "corp.example", "--keyword", "ProjectZeus")
    assert _leaks(members, (*GPU_SERIALS, *DMI, "corp.example", "ProjectZeus", "gpu01")) == []
    os_release = members["system/os-release.txt"].decode()
    assert "ID=ubuntu" in os_release and "www.ubuntu.com" in os_release  # not the host
    hosts = members["system/hosts.txt"].decode()
    assert "ubuntu" not in hosts and "<host-" in hosts
    assert not [n for n in members if "ubuntu" in n]  # member names too
    assert any(n.startswith("multiarc/install-logs/install-") for n in members)
    assert "<serial-" in members["gpu/xpu-smi-discovery.txt"].decode()
    assert manifest["redacted"] is True


def test_map_is_reused_across_archives(hostile_root: Path, tmp_path: Path) -> None:
    table = tmp_path / "host.map.json"
    first, _ = _collect(hostile_root, tmp_path / "a", "--redact", "--map", str(table))
    second, _ = _collect(hostile_root, tmp_path / "b", "--redact", "--map", str(table))
    assert table.stat().st_mode & 0o777 == 0o600
    mapping = json.loads(table.read_text())
    token = next(t for t, v in mapping.items() if v == "ubuntu")
    assert token in first["system/hosts.txt"].decode()
    assert token in second["system/hosts.txt"].decode()
    assert not list((tmp_path / "a").glob("*.redaction-map.json"))  # the map went to --map


def test_options_that_need_redact_are_usage_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--output", str(tmp_path), "--domain", "x.example"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "hint: " in result.stderr
    assert "Traceback" not in result.output
