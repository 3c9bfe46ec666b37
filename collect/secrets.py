"""Secrets that never leave the machine: found in every collected text, with or without
``--redact``, and replaced by ``<redacted:kind>``.

- credentials in URLs of any scheme (``http://user:pass@host``, ``https://token@host``),
  the user part running to the **last** ``@`` before the host, so a password holding ``@``,
  ``/``, ``:`` or ``%``-escapes goes whole;
- ``user:pass@host[:port]`` without a scheme (``https_proxy=frank:pw@proxy:3128``);
- settings that carry a secret by their name: ``proxy_user``/``proxy_password``,
  ``*_TOKEN``, ``*_KEY``, ``*_SECRET``, ``*PASSWORD*``, ``_authToken``, ``_auth``,
  ``npmAuthToken``, ``Authorization:`` headers, ``password=``/``passwd:`` assignments;
- token shapes: Hugging Face ``hf_…``, GitHub ``ghp_…``/``gho_…``/``github_pat_…``, GitLab
  ``glpat-…``/``glrt-…``/``gldt-…``, AWS ``AKIA…``/``ASIA…``, Slack ``xox?-…``, OpenAI-style
  ``sk-…``, npm ``npm_…``, PyPI ``pypi-…``, Google ``AIza…``/``ya29.…``, SendGrid, Vault,
  ``Bearer …``, JWTs, and PEM private key blocks.

``no_proxy`` lists hold host names, not secrets, and are kept. Each replacement is counted
by kind and file (never the value) for manifest.json. A cheap prefilter lets texts
without any of the telltale substrings through untouched (a 10 MB kernel log in
milliseconds). The patterns themselves are in secret_patterns.py.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from multiarc.collect.secret_patterns import (
    BARE,
    NAME_VALUE_HINT,
    NAME_VALUE_PAIR,
    NAMED_VALUES,
    NO_PROXY,
    NOT_SECRET,
    PRIVATE_KEY,
    SECRET_NAME,
    TELLTALE_ANYCASE,
    TELLTALE_BYTES,
    TOKEN_SHAPES,
    URL,
    YAML_BLOCK_HINT,
    YAML_BLOCK_KEY,
)

_BIG = 4096  # a text this long is scrubbed only on the lines that need it


def marker(kind: str) -> str:
    return f"<redacted:{kind}>"


@dataclass
class Findings:
    """What was removed: (file, kind) -> count. Never the values."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, where: str, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[(where, kind)] += n

    def as_list(self) -> list[dict[str, object]]:
        with self._lock:
            return [{"file": f, "kind": k, "count": n} for (f, k), n in sorted(self.counts.items())]


def may_hold_secrets(data: bytes) -> bool:
    lowered = data.lower()
    return any(t in lowered for t in TELLTALE_BYTES)


def scrub(text: str, where: str, findings: Findings) -> str:
    """``text`` with every secret replaced; what was found is counted in ``findings``.

    A long text (a 500 KB dpkg.log) is scrubbed on the lines holding a telltale only:
    every pattern but the private key block matches within one line, so the result is
    the same, in a fraction of the time.
    """
    if YAML_BLOCK_HINT.search(text):
        text = _scrub_yaml_blocks(text, where, findings)
    if NAME_VALUE_HINT.search(text):  # the one pattern that spans two lines
        text = _scrub_name_value_pairs(text, where, findings)
    if len(text) < _BIG:
        return _scrub_all(text, where, findings)
    if "PRIVATE KEY" in text:
        text = _scrub_keys(text, where, findings)
    spans = _telltale_lines(text)
    if not spans:
        return text
    found = Findings()
    clean = _scrub_all("\n".join(text[a:b] for a, b in spans), where, found).split("\n")
    if len(clean) != len(spans):  # cannot happen (no pattern spans lines): be safe anyway
        return _scrub_all(text, where, findings)
    parts, last = [], 0
    for (a, b), line in zip(spans, clean, strict=True):
        parts += [text[last:a], line]
        last = b
    parts.append(text[last:])
    for (file, kind), n in found.counts.items():
        findings.add(file, kind, n)
    return "".join(parts)


# Characters that re's IGNORECASE takes for an ASCII letter of a telltale (the long s for
# s, the Kelvin sign for k, the Turkish dotless and dotted i for i): a text holding one is
# searched the regex way, which knows them.
_FOLDS_TO_ASCII = ("\u017f", "\u212a", "\u0131", "\u0130")


def _telltale_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of every line holding a telltale, in order: one ``bytes.find`` scan per
    telltale over the lowered text (a regex alternation of them is ten times slower, and
    bytes.find is faster than str.find). The telltales are ASCII, so lowering the UTF-8
    bytes finds them in any text (178 KB of apt's term.log: 2 ms, the regex 56 ms)."""
    if text.isascii():
        return _lines_of(text, _hits(text.encode("ascii").lower()))
    if any(c in text for c in _FOLDS_TO_ASCII):
        return _lines_of(text, (m.start() for m in TELLTALE_ANYCASE.finditer(text)))
    raw = text.encode("utf-8", "surrogatepass").lower()
    return _char_lines(text, raw, _hits(raw))


def _hits(lowered: bytes) -> list[int]:
    """Sorted offsets of telltales, at most one per line and telltale."""
    hits: list[int] = []
    for telltale in TELLTALE_BYTES:
        i = lowered.find(telltale)
        while i >= 0:
            hits.append(i)
            end = lowered.find(b"\n", i)
            if end < 0:
                break
            i = lowered.find(telltale, end)
    return sorted(hits)


def _char_lines(text: str, raw: bytes, hits: list[int]) -> list[tuple[int, int]]:
    """The lines of ``text`` (character offsets) holding the byte offsets ``hits`` of its
    UTF-8 form ``raw``: a line is the same line in both, counted by its newlines."""
    spans: list[tuple[int, int]] = []
    byte_line, char_line = 0, 0  # the start of the current line in raw and in text
    for hit in hits:
        newlines = raw.count(b"\n", byte_line, hit)
        if newlines:
            for _ in range(newlines):
                char_line = text.index("\n", char_line) + 1
            byte_line = raw.rfind(b"\n", 0, hit) + 1
        elif spans and spans[-1][0] == char_line:
            continue  # this line is in already
        end = text.find("\n", char_line)
        spans.append((char_line, len(text) if end < 0 else end))
    return spans


def _lines_of(text: str, hits: Iterable[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for hit in hits:
        if spans and hit <= spans[-1][1]:
            continue
        start = text.rfind("\n", 0, hit) + 1
        end = text.find("\n", hit)
        spans.append((start, len(text) if end < 0 else end))
    return spans


def _indent(line: str) -> int:
    expanded = line.expandtabs()
    return len(expanded) - len(expanded.lstrip())


def _scrub_yaml_blocks(text: str, where: str, findings: Findings) -> str:
    """A secret-named key whose value is a YAML block (``password: |``): the lines below it
    indented more than the key become one marker (blank lines after the block stay)."""
    parts, last = [], 0
    for m in YAML_BLOCK_KEY.finditer(text):
        if m.start() < last:
            continue  # inside a block already removed
        key_indent = _indent(m.group("indent"))
        body_start = pos = m.end() + 1
        body_end = body_start
        while pos < len(text):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            line = text[pos:end]
            if line.strip() and _indent(line) <= key_indent:
                break
            if line.strip():
                body_end = end
            pos = end + 1
        if body_end <= body_start:
            continue  # an empty block: nothing to hide
        first_end = text.find("\n", body_start, body_end)
        first = text[body_start : body_end if first_end < 0 else first_end]
        lead = first[: len(first) - len(first.lstrip())]
        parts += [text[last:body_start], lead + marker("secret")]
        last = body_end
        findings.add(where, "secret")
    parts.append(text[last:])
    return "".join(parts)


def _named_value(m: re.Match[str], kind: str, where: str, findings: Findings) -> str:
    """A match with ``name``, ``sep`` and ``value``: the name kept, a real value replaced
    (a placeholder, an empty value or the shell's PWD path kept as it is)."""
    value = m.group("value").strip("\"'")
    if not value or NOT_SECRET.match(value.strip()) or _is_a_path(m, value):
        return m.group(0)
    findings.add(where, kind)
    return f"{m.group('name')}{m.group('sep')}{marker(kind)}"


def _scrub_name_value_pairs(text: str, where: str, findings: Findings) -> str:
    """``- name: DB_PASSWORD`` then ``value: v`` on the next line (Kubernetes, compose)."""
    return NAME_VALUE_PAIR.sub(lambda m: _named_value(m, "secret", where, findings), text)


def _scrub_keys(text: str, where: str, findings: Findings) -> str:
    def key(_m: re.Match[str]) -> str:
        findings.add(where, "private-key")
        return marker("private-key")

    return PRIVATE_KEY.sub(key, text)


def _scrub_all(text: str, where: str, findings: Findings) -> str:

    def sub(pattern: re.Pattern[str], kind: str, text: str, keep_name: bool = False) -> str:
        def replace(m: re.Match[str]) -> str:
            if keep_name:
                return _named_value(m, kind, where, findings)
            findings.add(where, kind)
            return marker(kind)

        return pattern.sub(replace, text)

    def url(m: re.Match[str]) -> str:
        findings.add(where, "url-credentials")
        return m.group("scheme") + marker("credentials") + "@"

    def bare(m: re.Match[str]) -> str:
        line_start = text.rfind("\n", 0, m.start()) + 1
        if NO_PROXY.search(text, line_start, m.start()):
            return m.group(0)  # a no_proxy list: host names only
        findings.add(where, "credentials")
        return marker("credentials") + "@"

    # A pattern whose telltale is nowhere in the text cannot match: skip it (a text holding
    # a character that re's IGNORECASE folds to ASCII is searched by every pattern).
    lowered = None if any(c in text for c in _FOLDS_TO_ASCII) else text.lower()

    def wanted(needles: tuple[str, ...]) -> bool:
        return lowered is None or any(n in lowered for n in needles)

    text = _scrub_keys(text, where, findings)
    text = URL.sub(url, text)
    text = BARE.sub(bare, text)
    for kind, pattern, needles in TOKEN_SHAPES:
        if wanted(needles):
            text = sub(pattern, kind, text)
    for pattern, kind, needles in NAMED_VALUES:
        if wanted(needles):
            text = sub(pattern, kind, text, keep_name=True)
    return text


def _is_a_path(m: re.Match[str], value: str) -> bool:
    """``PWD=/home/u``: the shell's working directory, not a password."""
    return m.group("name").lstrip("-").lower() == "pwd" and value.startswith(("/", "~"))


def credential_passwords(text: str) -> set[str]:
    """The passwords of ``user:password@host`` credentials in ``text`` (URLs and bare),
    so that the same value is removed wherever else it appears."""
    found = set()
    for pattern in (URL, BARE):
        for m in pattern.finditer(text):
            _user, colon, password = m.group("cred").partition(":")
            if colon and password and not NOT_SECRET.match(password):
                found.add(password)
    return found


_SHELL_PATHS = frozenset({"PWD", "OLDPWD"})  # the shell's working directories, never secrets


def is_secret_name(name: str) -> bool:
    """An environment variable or setting that holds a secret by its name."""
    if name.upper() in _SHELL_PATHS:
        return False
    return re.fullmatch(SECRET_NAME, name, re.IGNORECASE) is not None


# Files never collected, whatever folder is copied: credentials and keys by their name.
SECRET_FILE_NAMES = re.compile(
    r"(?:^|/)(?:\.netrc|_netrc|\.git-credentials|\.pgpass|\.env(?:\.[\w.-]+)?|[\w.-]+\.env"
    r"|id_(?:rsa|dsa|ecdsa|ed25519)(?:[-\w]*)?(?:\.pub)?|[\w.-]*\.(?:pem|key|p12|pfx|jks|kdbx|gpg|asc)"
    r"|credentials(?:\.\w+)?|\.docker/config\.json|secrets?(?:\.\w+)?|\.ssh(?:/.*)?|\.gnupg(?:/.*)?"
    r"|shadow|gshadow)$",
    re.IGNORECASE,
)


def is_secret_file(relative_name: str) -> bool:
    return SECRET_FILE_NAMES.search(relative_name) is not None
