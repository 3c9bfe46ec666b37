"""Scrub collected text: proxy credentials always; with --redact also hostnames, IPs, MACs,
dmidecode serial numbers and UUIDs, and user names.

Replacement is consistent: one value gets one token (``<ip-3>``) in every file of the
archive. The token -> value mapping stays with the user (written next to the archive, never
into it).
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

from multiarc.collect.context import Context

# scheme://user:password@host  (also user-only: scheme://token@host)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<cred>[^\s/@'\"]+)@")
_PROXY_NAMES = re.compile(r"proxy", re.IGNORECASE)
# proxy_user / proxy_password settings (wgetrc, curlrc-like files, environment variables)
_PROXY_SETTING = re.compile(
    r"\bproxy[_-]?(?:user(?:name)?|pass(?:word|wd)?)\b\s*[=:]?\s*[\"']?([^\s\"';]+)",
    re.IGNORECASE,
)
_PROXY_SETTING_NAME = re.compile(r"proxy[_-]?(?:user|pass)", re.IGNORECASE)

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

_DMI_FIELD = re.compile(
    r"^\s*(Serial Number|UUID|Asset Tag|Service Tag|Part Number):\s*(.+?)\s*$", re.MULTILINE
)
_DMI_PLACEHOLDERS = {
    "not specified",
    "to be filled by o.e.m.",
    "default string",
    "none",
    "not present",
    "not provided",
    "unknown",
    "n/a",
    "0",
    "00000000",
    "no asset tag",
    "system serial number",
    "chassis serial number",
    "base board serial number",
    "123456789",
    "",
}
DMI_ID_FILES = (
    "product_serial",
    "product_uuid",
    "board_serial",
    "chassis_serial",
    "board_asset_tag",
    "chassis_asset_tag",
)
PROXY_CONFIG_FILES = (
    "etc/environment",
    "etc/apt/apt.conf",
    "etc/wgetrc",
    "etc/profile",
    "etc/bash.bashrc",
)
PROXY_CONFIG_DIRS = ("etc/apt/apt.conf.d", "etc/profile.d", "etc/systemd/system/docker.service.d")


def _credentials_in(text: str) -> set[str]:
    """User and password parts of every URL credential and proxy_user/proxy_password
    setting in the text."""
    found: set[str] = {m.group(1) for m in _PROXY_SETTING.finditer(text)}
    for m in _URL_CREDENTIALS.finditer(text):
        user, _, password = m.group("cred").partition(":")
        if password:
            found.add(password)
        if user:
            found.add(user)
    return found


def proxy_secrets(ctx: Context) -> set[str]:
    """Credentials of proxy URLs in the environment and the usual proxy config files."""
    secrets: set[str] = set()
    for key, value in ctx.environ.items():
        if _PROXY_SETTING_NAME.search(key):  # PROXY_PASSWORD=..., proxy_user=...
            secrets.add(value)
        elif _PROXY_NAMES.search(key):
            secrets |= _credentials_in(value)
    files = [ctx.path("/" + f) for f in PROXY_CONFIG_FILES]
    for folder in PROXY_CONFIG_DIRS:
        try:
            files += sorted(ctx.path("/" + folder).iterdir())
        except OSError:
            continue
    for path in files:
        try:
            secrets |= _credentials_in(path.read_text(errors="replace"))
        except OSError:
            continue
    return {s for s in secrets if len(s) >= 3}


def dmi_identifiers(dmidecode_text: str) -> set[str]:
    """Serial numbers, UUIDs and asset tags printed by dmidecode (placeholders left out)."""
    return {
        m.group(2)
        for m in _DMI_FIELD.finditer(dmidecode_text)
        if m.group(2).strip().lower() not in _DMI_PLACEHOLDERS
    }


def local_identifiers(ctx: Context) -> dict[str, set[str]]:
    """Hostnames, user names and DMI ids known before anything is collected."""
    hosts = {socket.gethostname()}
    for name in ("etc/hostname", "proc/sys/kernel/hostname"):
        with contextlib.suppress(OSError):
            hosts.add(ctx.path("/" + name).read_text().strip())
    hosts |= {h.split(".")[0] for h in hosts}
    users: set[str] = set()
    try:
        for line in ctx.path("/etc/passwd").read_text(errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[2].isdigit() and 1000 <= int(fields[2]) < 65534:
                users.add(fields[0])
    except OSError:
        pass
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        if ctx.environ.get(var):
            users.add(ctx.environ[var])
    serials: set[str] = set()
    for name in DMI_ID_FILES:
        try:
            value = ctx.path("/sys/class/dmi/id/" + name).read_text().strip()
        except OSError:
            continue
        if value.lower() not in _DMI_PLACEHOLDERS:
            serials.add(value)
    return {
        "host": {h for h in hosts if h and h not in ("localhost", "(none)")},
        "user": {u for u in users if u and u != "root"},
        "serial": serials,
    }


class Redactor:
    """Replaces secrets in text; thread-safe; the same value always gets the same token."""

    def __init__(self, ctx: Context, full: bool) -> None:
        self.full = full
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._literals: dict[str, str] = {}  # value -> kind
        for secret in proxy_secrets(ctx):
            self._literals[secret] = "credential"
        if full:
            for kind, values in local_identifiers(ctx).items():
                for value in values:
                    self._literals.setdefault(value, kind)
        self._literal_re: re.Pattern[str] | None = None
        self._compile()

    def learn(self, values: Iterable[str], kind: str) -> None:
        with self._lock:
            for value in values:
                if value and value not in self._literals:
                    self._literals[value] = kind
            self._compile()

    def _compile(self) -> None:
        self._literal_bytes = [w.encode("utf-8", "surrogateescape") for w in self._literals]
        if not self._literals:
            self._literal_re = None
            return
        words = sorted(self._literals, key=len, reverse=True)
        alternatives = []
        for w in words:
            esc = re.escape(w)
            # Whole words for names (so "ann" does not eat "channel"); anywhere for secrets.
            if self._literals[w] in ("user", "host") and re.fullmatch(r"[\w.-]+", w):
                esc = rf"(?<![\w-]){esc}(?![\w-])"
            alternatives.append(esc)
        self._literal_re = re.compile("|".join(alternatives))

    def token(self, value: str, kind: str) -> str:
        with self._lock:
            tok = self._tokens.get(value)
            if tok is None:
                self._counts[kind] = self._counts.get(kind, 0) + 1
                tok = self._tokens[value] = f"<{kind}-{self._counts[kind]}>"
            return tok

    def _url_cred(self, m: re.Match[str]) -> str:
        return m.group("scheme") + ("<redacted>@")

    def _literal(self, m: re.Match[str]) -> str:
        value = m.group(0)
        kind = self._literals.get(value, "secret")
        if kind == "credential":
            return "<redacted>"
        return self.token(value, kind)

    def _ipv6(self, m: re.Match[str]) -> str:
        text = m.group(0)
        if text.count(":") < 2 or ("::" not in text and text.count(":") != 7):
            return text
        try:
            addr = ipaddress.IPv6Address(text)
        except ValueError:
            return text
        if str(addr) in _KEEP_IPS:
            return text
        return self.token(str(addr), "ip")

    def _ipv4(self, m: re.Match[str]) -> str:
        text = m.group(0)
        return text if text in _KEEP_IPS else self.token(text, "ip")

    def _mac(self, m: re.Match[str]) -> str:
        text = m.group(0).lower().replace("-", ":")
        return m.group(0) if text in _KEEP_MACS else self.token(text, "mac")

    def text(self, text: str) -> str:
        text = _URL_CREDENTIALS.sub(self._url_cred, text)
        pattern = self._literal_re
        if pattern is not None:
            text = pattern.sub(self._literal, text)
        if self.full:
            text = _MAC.sub(self._mac, text)
            text = _IPV6_CANDIDATE.sub(self._ipv6, text)
            text = _IPV4.sub(self._ipv4, text)
        return text

    def _may_hold_secrets(self, data: bytes) -> bool:
        """False when a scan is sure to change nothing (checked at memchr speed: a 10 MB
        kernel log without URLs is passed on at once instead of after a regex scan)."""
        if self.full or (b"://" in data and b"@" in data):
            return True
        return any(literal in data for literal in self._literal_bytes)

    def data(self, data: bytes) -> bytes:
        if not self._may_hold_secrets(data):
            return data
        return self.text(data.decode("utf-8", errors="surrogateescape")).encode(
            "utf-8", errors="surrogateescape"
        )

    def mapping(self) -> dict[str, str]:
        """token -> original value (for the user's eyes only; never put into the archive)."""
        with self._lock:
            return {tok: value for value, tok in sorted(self._tokens.items(), key=lambda i: i[1])}

    def write_mapping(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.mapping(), fh, indent=2)
