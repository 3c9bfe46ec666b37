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
  ``glpat-…``, AWS ``AKIA…``/``ASIA…``, Slack ``xox?-…``, OpenAI-style ``sk-…``, npm
  ``npm_…``, ``Bearer …``, JWTs, and PEM private key blocks.

``no_proxy`` lists hold host names, not secrets, and are kept. Each replacement is counted
by kind and file (never the value) for manifest.json. A cheap prefilter lets texts
without any of the telltale substrings through untouched (a 10 MB kernel log in
milliseconds).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

# scheme://[user[:password]]@host : greedy up to the last "@" before the host
_URL = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://)(?P<cred>[^\s/@:'\"<>]+(?::[^\s'\"<>]*)?)@"
    r"(?=[A-Za-z0-9\[][^\s/@'\"<>]*(?:[\s/'\"<>;,)]|$))"
)
# user:password@host without a scheme (proxy variables, Environment= lines)
_BARE = re.compile(
    r"(?<![\w@:/.%+-])(?P<cred>[\w.%+-]+:[^\s'\"<>@]*(?:@[^\s'\"<>@]*)*?)@"
    r"(?=[A-Za-z0-9][\w.-]*(?::\d+)?(?:[\s/'\";,)]|$))"
)
# NAME = value where the name says it holds a secret (env files, ini, yaml, rc files)
_SECRET_NAME = (
    r"(?:[\w.-]*(?:_TOKEN|_KEY|_SECRET|_PASS|_PASSWD|_PASSWORD|_PWD|_APIKEY|_API_KEY|_AUTH"
    r"|_CREDENTIAL|_CREDENTIALS|_PSK|_PW|key-data)"
    r"|[\w.-]*(?:PASSWORD|PASSWD|PASSPHRASE|SECRET)[\w.-]*"
    r"|proxy[_-]?(?:user(?:name)?|pass(?:word|wd)?)"
    r"|(?:db|user|admin|root|bind|ldap|smtp|mail|ftp|wifi|wpa)[_.-]?(?:pass|pw)"
    r"|[\w.-]*(?:access|secret|private|account|api|auth|signing|encryption|master|shared"
    r"|SharedAccess)[_-]?key|_authToken|_auth|npmAuthToken|access[_-]?token|auth[_-]?token"
    r"|refresh[_-]?token|client[_-]?secret|password|passwd|passphrase|secret|token"
    r"|pass|pwd|psk|key|credentials?)"
)
_VALUE = r"(?P<value>\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|[^\s\"',;}]{1,4096})"
# The lookahead (a name is only [\w.-], then the separator) fails at once where no "=" or
# ":" ends the word: the names alone are tried at every start in a word (after "-" or "."),
# each scanning to its end, which was 20 ms on the long lines of apt's history.log.
_ASSIGNMENT = re.compile(
    r"(?P<name>(?<!\w)(?=[\w.-]*+[ \t]*+[=:?+])" + _SECRET_NAME + r")"
    r"(?P<sep>[ \t]*(?:=>|:=|\?=|\+=|[=:])[ \t]*)" + _VALUE,  # =, :, Perl's =>, make's :=
    re.IGNORECASE,
)
# netrc, apt auth.conf: "login USER password SECRET" (a keyword, a space, the value)
_NETRC = re.compile(r"(?P<name>(?<!\w)(?:--?)?(?:password|passwd|passphrase|rootpw|bindpw))"
                    r"(?P<sep>[ \t]+)"
                    + _VALUE,
                    re.IGNORECASE)  # fmt: skip
# command-line options: --token SECRET, --api-key SECRET, --client-secret SECRET
_OPTION = re.compile(
    r"(?P<name>(?<![\w-])--?(?:[\w-]*(?:token|secret|api-?key|access-?key|private-?key|psk)"
    r"|pass|pwd|credentials?|auth))(?P<sep>[ \t]+)(?P<value>(?!-)[^\s\"',;}]{1,4096})",
    re.IGNORECASE,
)
# XML elements: <password>SECRET</password>, <apiKey>SECRET</apiKey>
_XML_SECRET = re.compile(
    r"(?P<name><(?P<tag>" + _SECRET_NAME + r")(?:\s[^<>]*)?>)(?P<sep>)"
    r"(?P<value>[^<\n]{1,4096})(?=</(?P=tag)>)",
    re.IGNORECASE,
)
# HTTP cookies are sessions: a Cookie or Set-Cookie header's whole value
_COOKIE = re.compile(r"(?P<name>\b(?:Set-)?Cookie)(?P<sep>[ \t]*:[ \t]*)(?P<value>[^\n]+)",
                     re.IGNORECASE)  # fmt: skip
_JSON_SECRET = re.compile(
    r"(?P<name>([\"'])(?:" + _SECRET_NAME + r"|auth|credentials?)\2\]?)(?P<sep>[ \t]*[:=][ \t]*)"
    r"(?P<value>\"[^\"]{1,4096}\"|'[^'\n]{1,4096}')",  # JSON, a dict's repr, env['X'] = 'v'
    re.IGNORECASE,
)
# .NET and Java settings: <add key="Password" value="SECRET"/>, name="token" value="..."
_KEY_VALUE_SECRET = re.compile(
    r"(?P<name>\b(?:key|name)[ \t]*=[ \t]*([\"'])" + _SECRET_NAME + r"\2[ \t]+value[ \t]*=[ \t]*)"
    r"(?P<sep>)(?P<value>\"[^\"\n]{1,4096}\"|'[^'\n]{1,4096}')",
    re.IGNORECASE,
)
# signed URLs: Azure SAS (sig=), AWS and Google presigned URLs (X-Amz-Signature=...)
_URL_SIGNATURE = re.compile(
    r"(?P<name>(?<=[?&;])(?:sig|signature|x-(?:amz|goog)-(?:signature|credential|security-token)))"
    r"(?P<sep>=)(?P<value>[^&\s\"'#<>]{1,4096})",
    re.IGNORECASE,
)
# passwords given to -p: mysql -pSECRET, docker login -p SECRET (elsewhere -p is a port)
_DASH_P = re.compile(
    r"(?P<name>\b(?:mysql\w*|mariadb\w*)\b[^\n]*?[ \t](?-i:-p)|\blogin\b[^\n]*?[ \t](?-i:-p)[ \t]+)"
    r"(?P<sep>)"
    r"(?P<value>[^\s\"']{1,4096})",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(
    r"(?P<name>\bAuthorization)(?P<sep>[ \t]*[:=][ \t]*)"
    r"(?P<value>(?:Basic|Bearer|Token|Digest)?\s*[^\s\"']+)",
    re.IGNORECASE,
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE "
    r"KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
TOKEN_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("github-token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("github-token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b")),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("api-key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("bearer-token", re.compile(r"\bBearer[ \t]+[A-Za-z0-9._~+/=-]{12,}", re.IGNORECASE)),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{10,}"
                           r"|https://discord(?:app)?\.com/api/webhooks/[A-Za-z0-9/_-]{10,}")),
    ("api-key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b")),
    # command lines: curl -u user:pass, --proxy-user u:p, sshpass -p secret
    ("credentials", re.compile(r"(?<=\s)(?:-u|--user|--proxy-user|-U)[ \t=]+[^\s:'\"]+:[^\s'\"]+"
                               r"|\bsshpass[ \t]+-p[ \t]*\S+")),
)
# Lower-cased substrings one of which every secret above contains: the prefilter.
TELLTALES = (
    "://", "@", "hf_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "akia",
    "asia", "agpa", "aida", "aroa", "xox", "sk-", "npm_", "aiza", "bearer", "eyj",
    "private key", "pass", "pwd", "secret", "token", "key", "auth", "credential", "hooks.slack",
    "webhooks", "k_live_", "k_test_", "-u", "--user", "-U", "psk", "cookie", "sig",
    "mysql", "mariadb", "login", "pw",
)  # fmt: skip
_TELLTALES = tuple(t.encode() for t in TELLTALES)
_TELLTALE_ANYCASE = re.compile("|".join(map(re.escape, TELLTALES)), re.IGNORECASE)
_BIG = 4096  # a text this long is scrubbed only on the lines that need it
# Placeholders that are not secrets (a value "<redacted:..>" from an earlier pass too).
_NOT_SECRET = re.compile(r"^(?:<.*>|\*+|x+|none|null|true|false|yes|no|\$\{?\w+\}?|%\w+%|-)$",
                         re.IGNORECASE)  # fmt: skip
_NO_PROXY = re.compile(r"\bno_proxy\b", re.IGNORECASE)


# The named-value patterns, in order, with the substrings (lowered) one of which a match
# holds; "" is in every text.
_NAMED_VALUES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (_AUTH_HEADER, "authorization", ("authorization",)),
    (_KEY_VALUE_SECRET, "secret", ("value",)),
    (_URL_SIGNATURE, "url-signature", ("sig", "x-amz-", "x-goog-")),
    (_DASH_P, "secret", ("mysql", "mariadb", "login")),
    (_JSON_SECRET, "secret", ('"', "'")),
    (_ASSIGNMENT, "secret", ("=", ":")),
    (_NETRC, "secret", ("pass", "pw")),
    (_OPTION, "secret", ("-",)),
    (_XML_SECRET, "secret", ("</",)),
    (_COOKIE, "cookie", ("cookie",)),
)
# The token shapes' own telltales (by pattern text): those not listed are always tried.
_SHAPE_NEEDLES: dict[str, tuple[str, ...]] = {
    pattern.pattern: needles
    for (_kind, pattern), needles in zip(
        TOKEN_SHAPES,
        (("hf_",), ("gh",), ("github_pat_",), ("glpat-",),
         ("akia", "asia", "agpa", "aida", "aroa"), ("xox",), ("sk-",), ("npm_",), ("aiza",),
         ("bearer",), ("eyj",), ("hooks.slack", "webhooks"), ("k_live_", "k_test_"),
         ("-u", "--user", "sshpass")),
        strict=True,
    )
}


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
            return [
                {"file": f, "kind": k, "count": n} for (f, k), n in sorted(self.counts.items())
            ]


def may_hold_secrets(data: bytes) -> bool:
    lowered = data.lower()
    return any(t in lowered for t in _TELLTALES)


def scrub(text: str, where: str, findings: Findings) -> str:
    """``text`` with every secret replaced; what was found is counted in ``findings``.

    A long text (a 500 KB dpkg.log) is scrubbed on the lines holding a telltale only:
    every pattern but the private key block matches within one line, so the result is
    the same, in a fraction of the time.
    """
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
        return _lines_of(text, (m.start() for m in _TELLTALE_ANYCASE.finditer(text)))
    raw = text.encode("utf-8", "surrogatepass").lower()
    return _char_lines(text, raw, _hits(raw))


def _hits(lowered: bytes) -> list[int]:
    """Sorted offsets of telltales, at most one per line and telltale."""
    hits: list[int] = []
    for telltale in _TELLTALES:
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


def _scrub_keys(text: str, where: str, findings: Findings) -> str:
    def key(_m: re.Match[str]) -> str:
        findings.add(where, "private-key")
        return marker("private-key")

    return _PRIVATE_KEY.sub(key, text)


def _scrub_all(text: str, where: str, findings: Findings) -> str:

    def sub(pattern: re.Pattern[str], kind: str, text: str, keep_name: bool = False) -> str:
        def replace(m: re.Match[str]) -> str:
            if keep_name:
                value = m.group("value").strip("\"'")
                if not value or _NOT_SECRET.match(value.strip()) or _is_a_path(m, value):
                    return m.group(0)
                findings.add(where, kind)
                return f"{m.group('name')}{m.group('sep')}{marker(kind)}"
            findings.add(where, kind)
            return marker(kind)

        return pattern.sub(replace, text)

    def url(m: re.Match[str]) -> str:
        findings.add(where, "url-credentials")
        return m.group("scheme") + marker("credentials") + "@"

    def bare(m: re.Match[str]) -> str:
        line_start = text.rfind("\n", 0, m.start()) + 1
        if _NO_PROXY.search(text, line_start, m.start()):
            return m.group(0)  # a no_proxy list: host names only
        findings.add(where, "credentials")
        return marker("credentials") + "@"

    # A pattern whose telltale is nowhere in the text cannot match: skip it (a text holding
    # a character that re's IGNORECASE folds to ASCII is searched by every pattern).
    lowered = None if any(c in text for c in _FOLDS_TO_ASCII) else text.lower()

    def wanted(needles: tuple[str, ...]) -> bool:
        return lowered is None or any(n in lowered for n in needles)

    text = _scrub_keys(text, where, findings)
    text = _URL.sub(url, text)
    text = _BARE.sub(bare, text)
    for kind, pattern in TOKEN_SHAPES:
        if wanted(_SHAPE_NEEDLES.get(pattern.pattern, ("",))):
            text = sub(pattern, kind, text)
    for pattern, kind, needles in _NAMED_VALUES:
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
    for pattern in (_URL, _BARE):
        for m in pattern.finditer(text):
            _user, colon, password = m.group("cred").partition(":")
            if colon and password and not _NOT_SECRET.match(password):
                found.add(password)
    return found


_SHELL_PATHS = frozenset({"PWD", "OLDPWD"})  # the shell's working directories, never secrets


def is_secret_name(name: str) -> bool:
    """An environment variable or setting that holds a secret by its name."""
    if name.upper() in _SHELL_PATHS:
        return False
    return re.fullmatch(_SECRET_NAME, name, re.IGNORECASE) is not None


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
