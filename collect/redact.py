"""Scrub collected text and member names.

Always (secrets.py): credentials and tokens in every spelling, plus the literal values of
secrets found in this machine's environment and proxy settings wherever they appear.

With ``--redact`` also (sos clean's model, one consistent token per value):
- host names **in context**: this machine's name as a whole word that is not part of a
  dotted name or a ``key=value`` (``ID=ubuntu`` and ``www.ubuntu.com`` stay when the host
  is called ``ubuntu``), its fully qualified names, and after ``hostname``-like keys;
- every name in a ``--domain`` (``a.b.corp.example`` at any depth), and the domain itself;
- ``--keyword`` words;
- IPv4/IPv6 and MAC addresses; user names (UID >= 1000, SUDO_USER ...);
- serial numbers (serials.py): ``/sys/class/dmi/id/*_serial`` and ``product_uuid``, and
  every value under a serial's label in any collected text.

A mapping (token -> value) can be kept per machine and reused (``--map FILE``): the same
host gets the same token in every archive. It is written next to the archive, never into it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import socket
import threading
from collections.abc import Iterable
from pathlib import Path

from multiarc.collect import secrets as sec
from multiarc.collect.context import Context
from multiarc.collect.safe_write import write_private
from multiarc.collect.serials import (
    SERIAL_FIELDS,
    SERIAL_LOOSE,
    not_placeholder,
)

_MAC = re.compile(
    r"(?<![\w:-])(?:[0-9A-Fa-f]{2}([:-]))(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:-])"
)
# IPv4 not inside a dotted version ("1.21.9.0-1136", "v10.0.0.1") or a longer dotted run.
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w.]|[-+~]\d)"
)
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:.])")
_KEEP_IPS = {"127.0.0.1", "0.0.0.0", "255.255.255.255", "::", "::1"}
_KEEP_MACS = {"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"}
_HOST_KEYS = re.compile(
    r"(?P<key>\b(?:host ?name|nodename|fqdn|HOSTNAME|Static hostname)\b\s*[:=]?\s*[\"']?)"
    r"(?P<value>[A-Za-z0-9][\w.-]*)",
    re.IGNORECASE,
)
DMI_ID_FILES = (
    "product_serial", "product_uuid", "board_serial", "chassis_serial", "board_asset_tag",
    "chassis_asset_tag",
)  # fmt: skip
PROXY_CONFIG_FILES = (
    "etc/environment", "etc/apt/apt.conf", "etc/wgetrc", "etc/profile", "etc/bash.bashrc",
    "etc/pip.conf", "etc/npmrc", "etc/yarnrc", "root/.npmrc", "root/.yarnrc", "root/.pip/pip.conf",
    "root/.config/pip/pip.conf",
)  # fmt: skip
PROXY_CONFIG_DIRS = (
    "etc/apt/apt.conf.d", "etc/profile.d", "etc/systemd/system/docker.service.d",
    "etc/systemd/system/containerd.service.d",
)  # fmt: skip


def environment_secrets(ctx: Context) -> set[str]:
    """Literal secret values of this machine: secret-named variables, proxy credentials of
    the environment and the usual config files (found anywhere else, they go too)."""
    found: set[str] = set()
    texts = [f"{k}={v}" for k, v in ctx.environ.items()]
    found |= {v for k, v in ctx.environ.items() if sec.is_secret_name(k)}
    files = [ctx.path("/" + f) for f in PROXY_CONFIG_FILES]
    for folder in PROXY_CONFIG_DIRS:
        with contextlib.suppress(OSError):
            files += sorted(ctx.path("/" + folder).iterdir())
    for path in files:
        with contextlib.suppress(OSError):
            texts.append(path.read_text(errors="replace"))
    for text in texts:
        found |= sec.credential_passwords(text)
    return {s for s in found if len(s) >= 4 and not re.fullmatch(r"\d{1,6}", s)}


def local_identifiers(ctx: Context) -> dict[str, set[str]]:
    """Host names, user names and DMI ids known before anything is collected."""
    hosts = {socket.gethostname()}
    for name in ("etc/hostname", "proc/sys/kernel/hostname"):
        with contextlib.suppress(OSError):
            hosts.add(ctx.path("/" + name).read_text().strip())
    fqdns = {h for h in hosts if "." in h}
    with contextlib.suppress(OSError):
        fqdns.add(socket.getfqdn())
    short = {h.split(".")[0] for h in hosts}
    with contextlib.suppress(OSError):
        for line in ctx.path("/etc/hosts").read_text(errors="replace").splitlines():
            names = line.split("#")[0].split()[1:]
            if any(n.split(".")[0] in short for n in names):
                fqdns |= {n for n in names if "." in n and n.split(".")[0] in short}
    users: set[str] = set()
    with contextlib.suppress(OSError):
        for line in ctx.path("/etc/passwd").read_text(errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[2].isdigit() and 1000 <= int(fields[2]) < 65534:
                users.add(fields[0])
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        if ctx.environ.get(var):
            users.add(ctx.environ[var])
    serials: set[str] = set()
    for name in DMI_ID_FILES:
        with contextlib.suppress(OSError):
            value = ctx.path("/sys/class/dmi/id/" + name).read_text().strip()
            if not_placeholder(value):
                serials.add(value)
    return {
        "host": {h for h in short if h and h not in ("localhost", "(none)")},
        "fqdn": {f for f in fqdns if f and not f.startswith("localhost")},
        "user": {u for u in users if u and u != "root"},
        "serial": serials,
    }


class Redactor:
    """Replaces secrets (always) and identities (``full``) in text; thread-safe; one value,
    one token, in every file of the archive (and, with a map, in every archive)."""

    def __init__(
        self,
        ctx: Context,
        full: bool,
        *,
        domains: Iterable[str] = (),
        keywords: Iterable[str] = (),
        hosts: Iterable[str] = (),
        mapping: dict[str, str] | None = None,
    ) -> None:
        self.full = full
        self.findings = sec.Findings()
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}  # value -> token
        self._counts: dict[str, int] = {}
        for token, value in (mapping or {}).items():
            match = re.fullmatch(r"<([a-z]+)-(\d+)>", token)
            if match:
                self._tokens[value] = token
                kind, number = match.group(1), int(match.group(2))
                self._counts[kind] = max(self._counts.get(kind, 0), number)
        self._secrets = environment_secrets(ctx)
        self._words: dict[str, str] = {}  # literal -> kind (identities)
        self._hosts: set[str] = set()
        self._domains = [d.strip(".").lower() for d in domains if d.strip(".")]
        if full:
            found = local_identifiers(ctx)
            self._hosts = found["host"]
            for kind in ("fqdn", "user", "serial"):
                for value in found[kind]:
                    self._words[value] = "host" if kind == "fqdn" else kind
            for word in keywords:
                if word.strip():
                    self._words[word.strip()] = "keyword"
            self._add_hosts(hosts)
        self._compile()

    # -- the literal values ------------------------------------------------------------

    def _add_hosts(self, names: Iterable[str]) -> None:
        """Other names of hosts (``--host-name``: aliases, the other nodes of a rack): a
        short name in context like this machine's, a dotted one wherever it appears."""
        for name in (n.strip().rstrip(".") for n in names):
            if not name or name.lower() in ("localhost", "localhost.localdomain"):
                continue
            with contextlib.suppress(ValueError):
                ipaddress.ip_address(name)
                continue  # addresses are tokens of their own (ip)
            if "." in name:
                self._words[name] = "host"
            else:
                self._hosts.add(name)

    def learn(self, values: Iterable[str], kind: str) -> None:
        with self._lock:
            for value in values:
                if value and value not in self._words:
                    self._words[value] = kind
            self._compile()

    def _compile(self) -> None:
        parts = []
        for word in sorted(self._words, key=len, reverse=True):
            esc = re.escape(word)
            if self._words[word] in ("user", "keyword") and re.fullmatch(r"[\w.-]+", word):
                esc = rf"(?<![\w-]){esc}(?![\w-])"
            parts.append(esc)
        self._words_re = re.compile("|".join(parts)) if parts else None
        secrets = sorted(self._secrets, key=len, reverse=True)
        self._secrets_re = re.compile("|".join(map(re.escape, secrets))) if secrets else None
        self._secret_bytes = [s.encode("utf-8", "surrogateescape") for s in secrets]
        hosts = "|".join(re.escape(h) for h in sorted(self._hosts, key=len, reverse=True))
        # a host name as a whole word, not part of a dotted name, a key=value or a path; but
        # after user@ (a prompt, an ssh log) and scheme:// (a URL to it)
        self._host_re = (
            re.compile(rf"(?:(?<![\w.=/@-])|(?<=[\w]@)|(?<=://))(?:{hosts})"
                       rf"(?![\w-]|\.[A-Za-z0-9])")
            if hosts else None
        )  # fmt: skip
        domains = "|".join(re.escape(d) for d in self._domains)
        self._domain_re = (
            re.compile(rf"(?<![\w.-])\.?(?:[A-Za-z0-9-]+\.)*(?:{domains})(?![\w-]|\.[A-Za-z0-9])",
                       re.IGNORECASE)
            if domains
            else None
        )

    def token(self, value: str, kind: str) -> str:
        with self._lock:
            tok = self._tokens.get(value)
            if tok is None:
                self._counts[kind] = self._counts.get(kind, 0) + 1
                tok = self._tokens[value] = f"<{kind}-{self._counts[kind]}>"
            return tok

    # -- replacing ------------------------------------------------------------------------

    def _ipv6(self, m: re.Match[str]) -> str:
        text = m.group(0)
        if text.count(":") < 2 or ("::" not in text and text.count(":") != 7):
            return text
        try:
            addr = ipaddress.IPv6Address(text)
        except ValueError:
            return text
        return text if str(addr) in _KEEP_IPS else self.token(str(addr), "ip")

    def _ipv4(self, m: re.Match[str]) -> str:
        text = m.group(0)
        return text if text in _KEEP_IPS else self.token(text, "ip")

    def _mac(self, m: re.Match[str]) -> str:
        text = m.group(0).lower().replace("-", ":")
        return m.group(0) if text in _KEEP_MACS else self.token(text, "mac")

    def _serial(self, m: re.Match[str]) -> str:
        value = m.group("value")
        if not not_placeholder(value) or value.startswith("<"):
            return m.group(0)
        return m.group("key") + self.token(value.strip(), "serial")

    def _host_key(self, m: re.Match[str]) -> str:
        value = m.group("value")
        if value.split(".")[0] in self._hosts or value in self._words:
            return m.group("key") + self.token(value, "host")
        return m.group(0)

    def text(self, text: str, where: str = "") -> str:
        text = sec.scrub(text, where, self.findings)
        if self._secrets_re is not None:
            text = self._secrets_re.sub(lambda _m: sec.marker("credential"), text)
        if not self.full:
            return text
        text = SERIAL_FIELDS.sub(self._serial, text)
        text = SERIAL_LOOSE.sub(self._serial, text)
        if self._domain_re is not None:
            text = self._domain_re.sub(lambda m: self.token(m.group(0).lower(), "host"), text)
        if self._words_re is not None:
            text = self._words_re.sub(lambda m: self.token(m.group(0), self._words[m.group(0)]),
                                      text)  # fmt: skip
        text = _HOST_KEYS.sub(self._host_key, text)
        if self._host_re is not None:
            text = self._host_re.sub(lambda m: self.token(m.group(0), "host"), text)
        text = _MAC.sub(self._mac, text)
        text = _IPV6_CANDIDATE.sub(self._ipv6, text)
        return _IPV4.sub(self._ipv4, text)

    def data(self, data: bytes, where: str = "") -> bytes:
        """``text`` over bytes; without --redact a fast prefilter passes clean data on."""
        if not self.full and not sec.may_hold_secrets(data) and not any(
            s in data for s in self._secret_bytes
        ):
            return data
        return self.text(data.decode("utf-8", errors="surrogateescape"), where).encode(
            "utf-8", errors="surrogateescape"
        )

    def name(self, member: str) -> str:
        """A member name without secrets (always) and, with --redact, with host, user,
        serial and keyword parts replaced."""
        if not self.full:
            if not sec.may_hold_secrets(member.encode(errors="replace")):
                return member
            parts = [sec.scrub(part, member, self.findings) for part in member.split("/")]
            return "/".join(re.sub(r"[<>:]", "", p) for p in parts)
        parts = [self._loose(self.text(part)).replace("/", "_") for part in member.split("/")]
        return "/".join(re.sub(r"[<>:]", "", p) for p in parts)

    def _loose(self, part: str) -> str:
        """In a file name, host, user and keyword values between any separators
        ("install-<host>-2025.log"), not only as whole words."""
        words = {h: "host" for h in self._hosts} | {
            w: k for w, k in self._words.items() if k in ("user", "keyword", "host")}
        for word in sorted(words, key=len, reverse=True):
            kind = words[word]

            def tokenize(m: re.Match[str], kind: str = kind) -> str:
                return self.token(m.group(0), kind)

            part = re.sub(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", tokenize, part)
        return part

    # -- the mapping ----------------------------------------------------------------------

    def mapping(self) -> dict[str, str]:
        """token -> original value (for the user's eyes only; never put into the archive)."""
        with self._lock:
            return {tok: value for value, tok in sorted(self._tokens.items(), key=lambda i: i[1])}

    def write_mapping(self, path: Path, *, replace: bool = False) -> Path:
        data = (json.dumps(self.mapping(), indent=2) + "\n").encode()
        return write_private(path, data, replace=replace)


def load_mapping(path: Path) -> dict[str, str]:
    """A mapping file written by an earlier run (--map); {} when it does not exist yet."""
    from multiarc.errors import InputError

    if not path.exists() and not path.is_symlink():
        return {}
    if path.is_symlink() or not path.is_file() or path.stat().st_uid != os.geteuid():
        raise InputError(f"--map {path} is not a regular file of yours",
                         "give the path of a map file you own")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"--map {path} is unreadable ({err})",
                         "give a map this tool wrote") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InputError(f"--map {path} is not a token map", "give a map this tool wrote")
    return data
