"""Redaction: planted secrets never reach the archive; proxy passwords never, even unredacted."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from multiarc.collect import serials
from multiarc.collect.cli import main
from multiarc.collect.context import Context
from multiarc.collect.redact import Redactor
from multiarc.collect.serials import dmi_identifiers

from tests.collect.conftest import by_name, extract_all, write_tool

HOST = "planted-host-7781"
IP4 = "10.11.12.13"
IP6 = "fd12:3456:789a::42"
MAC = "02:42:ac:11:00:99"
SERIAL = "PLNTSN99812"
UUID = "4c4c4544-0042-3510-8052-b7c04f4b3332"
USER = "plantuser"
APT_PASSWORD = "Pr0xyPa55w0rd"
ENV_PASSWORD = "EnvS3cretPw"
WGET_PASSWORD = "W9etPa55wd"  # proxy_password in /etc/wgetrc (not collected, seen in a log)
VAR_PASSWORD = "VarPa55wd"  # PROXY_PASSWORD in the environment
SECRETS = (
    HOST,
    IP4,
    IP6,
    MAC,
    SERIAL,
    UUID,
    USER,
    APT_PASSWORD,
    ENV_PASSWORD,
    WGET_PASSWORD,
    VAR_PASSWORD,
    "proxyuser",
    "envuser",
)


@pytest.fixture
def planted_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    for name in ("proc", "sys", "lib"):
        (root).mkdir(exist_ok=True)
        os.symlink(f"/{name}", root / name)
    etc = root / "etc"
    (etc / "apt/apt.conf.d").mkdir(parents=True)
    (etc / "hostname").write_text(HOST + "\n")
    (etc / "hosts").write_text(f"127.0.0.1 localhost\n{IP4} {HOST}\n{IP6} {HOST}\n")
    (etc / "passwd").write_text(
        f"root:x:0:0::/root:/bin/bash\n{USER}:x:1234:1234::/home/{USER}:/bin/bash\n"
    )
    shutil.copy("/etc/os-release", etc / "os-release")
    (etc / "apt/apt.conf.d/90proxy").write_text(
        f'Acquire::http::Proxy "http://proxyuser:{APT_PASSWORD}@proxy.example:3128/";\n'
    )
    (etc / "wgetrc").write_text(
        f"use_proxy = on\nproxy_user = wuser\nproxy_password = {WGET_PASSWORD}\n"
    )
    logs = root / "var/log/multiarc"
    logs.mkdir(parents=True)
    (logs / "install-20250101_120000.log").write_text(
        f"install started by {USER} on {HOST} ({IP4}); proxy password {APT_PASSWORD}\n"
        f"wget --proxy-password={WGET_PASSWORD} ...; env PROXY_PASSWORD={VAR_PASSWORD}\n"
        "libze1 1.21.9.0-1136~25.04 installed\n"
    )
    bin_dir = tmp_path / "bin"
    write_tool(
        bin_dir,
        "dmidecode",
        f"""\
        [ "$1" = "--version" ] && {{ echo 3.4; exit 0; }}
        cat <<'EOT'
        # dmidecode 3.4
        System Information
            Manufacturer: Example Corp
            Serial Number: {SERIAL}
            UUID: {UUID}
        Base Board Information
            Serial Number: Not Specified
        EOT
        """,
    )
    write_tool(
        bin_dir,
        "ip",
        f"""\
        echo "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500"
        echo "    link/ether {MAC} brd ff:ff:ff:ff:ff:ff"
        echo "    inet {IP4}/24 brd 10.11.12.255 scope global eth0"
        echo "    inet6 {IP6}/64 scope global"
        """,
    )
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("https_proxy", f"http://envuser:{ENV_PASSWORD}@proxy.example:3128")
    monkeypatch.setenv("PROXY_PASSWORD", VAR_PASSWORD)
    return root


def collect(root: Path, out: Path, *extra: str) -> tuple[Path, dict[str, bytes]]:
    result = CliRunner().invoke(
        main,
        ["--root", str(root), "--output", str(out), "--timeout", "5", *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    archive = Path(result.stdout.strip().splitlines()[-1].split()[0])
    return archive, extract_all(archive)


def test_redact_removes_every_planted_secret(planted_root: Path, tmp_path: Path) -> None:
    archive, members = collect(planted_root, tmp_path / "out", "--redact")
    blob = b"\n".join(members.values()) + "\n".join(members).encode()
    for secret in SECRETS:
        assert secret.encode() not in blob, secret
    assert HOST not in archive.name
    # The planted values were really collected (else the test would prove nothing).
    top = next(iter(members)).split("/")[0]
    hosts = members[f"{top}/system/hosts.txt"].decode()
    ip_addr = members[f"{top}/system/ip-addr.txt"].decode()
    log = members[f"{top}/multiarc/install-logs/install-20250101_120000.log"].decode()
    dmi = members[f"{top}/firmware/dmidecode.txt"].decode()
    assert "<ip-" in hosts and "<mac-" in ip_addr and "<serial-" in dmi and "<user-" in log
    # Consistent tokens: the same address gets the same token in every file.
    token = next(t for t in hosts.split() if t.startswith("<ip-"))
    assert token in ip_addr and token in log
    host_token = hosts.split()[-1]
    assert host_token.startswith("<host-") and host_token in log
    # Version strings are not mistaken for addresses; loopback and broadcast stay.
    assert "1.21.9.0-1136~25.04" in log
    assert "127.0.0.1 localhost" in hosts and "ff:ff:ff:ff:ff:ff" in ip_addr
    assert "Serial Number: Not Specified" in dmi
    # The mapping stays local, readable by its owner only, and holds the originals.
    (mapping_file,) = (tmp_path / "out").glob("*.redaction-map.json")
    assert mapping_file.stat().st_mode & 0o077 == 0
    mapping = json.loads(mapping_file.read_text())
    assert {IP4, MAC, SERIAL, UUID, HOST, USER} <= set(mapping.values())
    assert not any(name.endswith("redaction-map.json") for name in members)
    manifest = json.loads(members[f"{top}/manifest.json"])
    assert manifest["redacted"] is True


def test_proxy_password_removed_without_redact(planted_root: Path, tmp_path: Path) -> None:
    _, members = collect(planted_root, tmp_path / "out")
    blob = b"\n".join(members.values())
    for secret in (APT_PASSWORD, ENV_PASSWORD, WGET_PASSWORD, VAR_PASSWORD, "proxyuser", "envuser"):
        assert secret.encode() not in blob, secret
    top = next(iter(members)).split("/")[0]
    apt = members[f"{top}/system/apt.conf.d/90proxy"].decode()
    assert apt == 'Acquire::http::Proxy "http://<redacted:credentials>@proxy.example:3128/";\n'
    env = members[f"{top}/system/proxy-env.txt"].decode()
    assert "https_proxy=http://<redacted:credentials>@proxy.example:3128" in env
    assert "PROXY_PASSWORD=<redacted:secret>" in env
    log = members[f"{top}/multiarc/install-logs/install-20250101_120000.log"].decode()
    assert "--proxy-password=<redacted:secret>" in log  # a secret by its name
    # Unredacted archives keep the other facts.
    assert HOST.encode() in members[f"{top}/system/hosts.txt"]
    assert SERIAL.encode() in members[f"{top}/firmware/dmidecode.txt"]
    manifest = json.loads(members[f"{top}/manifest.json"])
    assert by_name(manifest)["system/apt.conf.d/90proxy"]["status"] == "ok"


def _redactor(tmp_path: Path, full: bool = True) -> Redactor:
    ctx = Context(root=tmp_path, environ={}, is_root=True)
    return Redactor(ctx, full=full)


@pytest.mark.parametrize(
    "text",
    [
        "libze1=1.21.9.0-1136~25.04",
        "kernel 6.14.0-1006-intel",
        "v10.0.0.1",
        "1.2.3.4.5",
        "PCI 0000:18:00.0",
        "at 17:45:35",
        "firmware 70.44.1",
        "uuid-ish 0000:1b:00.0",
    ],
)
def test_versions_and_bdfs_are_not_addresses(tmp_path: Path, text: str) -> None:
    assert _redactor(tmp_path).text(text) == text


def test_addresses_are_tokenised_consistently(tmp_path: Path) -> None:
    r = _redactor(tmp_path)
    a = r.text("from 192.168.1.20, to 192.168.1.21 and 2001:db8::1 mac AA-BB-CC-DD-EE-01")
    b = r.text("again 192.168.1.20 aa:bb:cc:dd:ee:01 2001:0db8:0000::1")
    words = a.replace(",", "").split()
    ip_a, ip_b, ip6, mac = words[1], words[3], words[5], words[7]
    assert len({ip_a, ip_b, ip6}) == 3 and all(t.startswith("<ip-") for t in (ip_a, ip_b, ip6))
    assert mac == "<mac-1>"
    assert b == f"again {ip_a} {mac} {ip6}"  # same values, same tokens (MAC case, v6 spelling)


def test_url_credentials_always_go(tmp_path: Path) -> None:
    r = _redactor(tmp_path, full=False)
    clean = r.text("ftp://bob:pw123@h/x and http://tok@h")
    assert clean == "ftp://<redacted:credentials>@h/x and http://<redacted:credentials>@h"
    assert r.text("10.0.0.1 stays without --redact") == "10.0.0.1 stays without --redact"


def test_dmi_identifiers_skip_placeholders() -> None:
    text = (
        "\tSerial Number: ABC123\n\tUUID: 0123\n\tSerial Number: To Be Filled By O.E.M.\n"
        "\tAsset Tag: Not Specified\n"
    )
    assert dmi_identifiers(text) == {"ABC123", "0123"}


def test_data_without_secrets_is_passed_on_unscanned(tmp_path: Path) -> None:
    ctx = Context(root=tmp_path, environ={"https_proxy": "http://bob:Secr3tPw@h:3128"})
    r = Redactor(ctx, full=False)
    log = b"[    0.000000] Linux version 6.14.0 ... no address here\n" * 1000
    assert r.data(log) is log  # nothing that could be a secret: the very same bytes
    assert r.data(b"apt http://u:pw123@mirror/x\n") == b"apt http://<redacted:credentials>@mirror/x\n"
    # the environment's proxy password, wherever else it appears
    assert r.data(b"echo Secr3tPw | login\n") == b"echo <redacted:credential> | login\n"
    assert Redactor(ctx, full=True).data(b"ip 10.1.2.3\n") == b"ip <ip-1>\n"


def test_long_texts_are_scrubbed_like_short_ones() -> None:
    """The line-picking fast path for long texts gives exactly the full scan's result."""
    from multiarc.collect import secrets as sec

    lines = [f"2025-01-01 12:00:{i % 60:02d} status installed libfoo{i}:amd64 1.{i}" for i in
             range(3000)]
    planted = [
        "Acquire::http::Proxy \"http://u:Pw1@proxy:3128/\";", "export HF_TOKEN=hf_" + "a" * 34,
        "Authorization: Bearer " + "b" * 20, "https_proxy=frank:pw@proxy:3128",
        "-----BEGIN RSA PRIVATE KEY-----", "MIIEow", "-----END RSA PRIVATE KEY-----",
        "ünïcode İstanbul password=Sëcret", "x-api-key: 12345678abcdef",
    ]
    for n, line in enumerate(planted):
        lines.insert(300 * n + 7, line)
    text = "\n".join(lines) + "\n"
    fast, full = sec.Findings(), sec.Findings()
    assert len(text) > sec._BIG
    assert sec.scrub(text, "f", fast) == sec._scrub_all(text, "f", full)
    assert fast.counts == full.counts and sum(fast.counts.values()) >= len(planted) - 2


_PIECES = ["\n", " ", "é", "ü", "漢字", "🙂", "\udc80", "\udcff", "a", "Z", "=", "Pass",
           "TOKEN", "://", "@", "hf_", "-u", "Key", "x" * 40, "\u212a", "\u017f", "ı"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=120))
def test_telltale_lines_of_any_text_are_the_regex_ones(pieces: list[str]) -> None:
    """Texts that are not ASCII are searched in their lowered UTF-8 bytes: the lines found
    are those the case-blind regex finds (surrogate escapes of undecodable bytes and the
    characters the regex takes for ASCII letters included)."""
    from multiarc.collect import secrets as sec

    text = "".join(pieces)
    by_regex = sec._lines_of(text, (m.start() for m in sec.TELLTALE_ANYCASE.finditer(text)))
    assert sec._telltale_lines(text) == by_regex


def test_a_long_text_that_is_not_ascii_is_scrubbed_like_a_short_one() -> None:
    """apt's term.log (progress bars, translated messages) is UTF-8, not ASCII."""
    from multiarc.collect import secrets as sec

    lines = [f"Paramétrage de libfoo{i} (1.{i}) ▕████▏ {i}%" for i in range(3000)]
    for n, line in enumerate(["Vérifié: password=Sëcret", "https_proxy=frank:pw@proxy:3128",
                              "export HF_TOKEN=hf_" + "a" * 34, "clé: api_key=Zz9Zz9Zz9"]):
        lines.insert(500 * n + 3, line)
    text = "\n".join(lines)
    fast, full = sec.Findings(), sec.Findings()
    assert not text.isascii() and len(text) > sec._BIG
    assert sec.scrub(text, "f", fast) == sec._scrub_all(text, "f", full)
    assert fast.counts == full.counts and sum(fast.counts.values()) >= 4


def test_other_host_names_are_replaced_like_this_machines(tmp_path: Path) -> None:
    """--host-name (a fleet passes every node's name): short names in context, dotted
    names anywhere; addresses and localhost are left to their own rules."""
    ctx = Context(root=tmp_path, environ={}, is_root=True)
    r = Redactor(ctx, full=True, hosts=["node7", "n8.rack.example", "10.0.0.1", "localhost", ""])
    text = r.text("10.0.0.1 node7 n8.rack.example\nID=node7 www.node7.org node70 localhost\n")
    first, second = text.splitlines()
    ip, node7, n8 = first.split()
    assert ip.startswith("<ip-") and node7.startswith("<host-") and n8.startswith("<host-")
    assert node7 != n8
    assert second == "ID=node7 www.node7.org node70 localhost"  # in context only


@pytest.mark.parametrize(
    "text",
    [
        "Serial Number: x" + " " * 100_000 + "y",  # a lazy value re-scanned the blanks: minutes
        "Serial Number: x " * 20_000,
        '"serial_number": "' + "a" * 100_000,
        "serial: " + "1" * 100_000,
        "Board Serial : 1" * 30_000,
        "serial=" * 30_000,
    ],
    ids=["blanks", "repeated", "unclosed", "loose-long", "loose-repeated", "loose-empty"],
)
def test_a_hostile_serial_line_cannot_hang_redact(tmp_path: Path, text: str) -> None:
    """Only a hang is caught here (benchmarks/ measure speed)."""
    started = time.monotonic()
    _redactor(tmp_path).text(text)
    assert time.monotonic() - started < 10


def test_a_serial_value_ends_at_its_last_non_blank(tmp_path: Path) -> None:
    r = _redactor(tmp_path)
    assert r.text("Serial Number: LQAC5060   \n") == "Serial Number: <serial-1>   \n"
    assert r.text("| Serial Number: LQAC5060 | x |") == "| Serial Number: <serial-1> | x |"
    assert r.text('"serial_number": "LQAC5061"') == '"serial_number": "<serial-2>"'


@pytest.mark.parametrize(
    ("text", "serial"),
    [
        ("Board Serial          : BSN12345X", "BSN12345X"),  # ipmitool fru
        ("Product Serial        : PSN99881", "PSN99881"),
        ("       serial: S4EWNX0R123456", "S4EWNX0R123456"),  # lshw
        ("E: ID_SERIAL_SHORT=S4EWNX0R123457", "S4EWNX0R123457"),  # udevadm's database
        ('{"serialNumber": "ABC12345"}', "ABC12345"),  # camelCase JSON (Redfish)
        ("SerialNumber=CN0123456789", "CN0123456789"),
    ],
)
def test_other_tools_serial_labels(tmp_path: Path, text: str, serial: str) -> None:
    """Serials under other tools' labels are replaced, and the same value wherever else it
    appears in the archive (learned from every collected text before anything is written)."""
    r = _redactor(tmp_path)
    assert serial in serials.serial_values(text)
    r.learn(serials.serial_values(text), "serial")
    assert serial not in r.text(text) and "<serial-" in r.text(text)
    assert serial not in r.text(f"disk {serial} is healthy")


@pytest.mark.parametrize(
    "text",
    ["serial: enabled", "Serial: 8250/16550 driver, 4 ports", "console=ttyS0 serial=0",
     "serial-getty@ttyS0.service", "serial: 1234"],
)
def test_serial_look_alikes_are_kept(tmp_path: Path, text: str) -> None:
    assert not serials.serial_values(text)
    assert _redactor(tmp_path).text(text) == text


def test_the_host_after_user_at_and_in_a_url_is_replaced(tmp_path: Path) -> None:
    """A shell prompt or an ssh log (root@host:) and a URL to the host (http://host:8000)
    name the host; a dotted name (www.ubuntu.com) and a key=value (ID=ubuntu) do not."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_text("ubuntu\n")
    r = _redactor(tmp_path)
    assert r.text("root@ubuntu:~# ls") == "root@<host-1>:~# ls"
    assert r.text("curl http://ubuntu:8000/v1/models") == "curl http://<host-1>:8000/v1/models"
    assert r.text("ssh://ubuntu/srv") == "ssh://<host-1>/srv"
    kept = "ID=ubuntu HOME_URL=https://www.ubuntu.com/ https://ubuntu.com/x a@ubuntu.example"
    assert r.text(kept) == kept
