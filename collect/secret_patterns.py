"""The patterns that find secrets in collected texts (used by secrets.py): credentials in
URLs, settings named for a secret, command-line options, headers, token shapes, private
key blocks, and the lowered telltales one of which each of them needs (the prefilter, and
the gate that skips a pattern whose telltale is nowhere in a text).

Names are matched case-insensitively; every value pattern has the groups ``name``, ``sep``
and ``value``, so the name stays and only the value is replaced.
"""

from __future__ import annotations

import re

# scheme://[user[:password]]@host : greedy up to the last "@" before the host
URL = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://)"
    r"(?P<cred>[^\s/@:'\"<>]{1,256}(?::[^\s'\"<>]{0,256})?)@"
    r"(?=[A-Za-z0-9\[][^\s/@'\"<>]{0,255}(?:[\s/'\"<>;,)]|$))"
)
# user:password@host without a scheme (proxy variables, Environment= lines)
BARE = re.compile(
    r"(?<![\w@:/.%+-])(?P<cred>[\w.%+-]{1,256}:[^\s'\"<>@]{0,256}(?:@[^\s'\"<>@]{0,256}){0,8}?)@"
    r"(?=[A-Za-z0-9][\w.-]{0,254}(?::\d+)?(?:[\s/'\";,)]|$))"
)
# NAME = value where the name says it holds a secret (env files, ini, yaml, rc files)
SECRET_NAME = (
    r"(?:[\w.-]{0,64}(?:_TOKEN|_KEY|_SECRET|_PASS|_PASSWD|_PASSWORD|_PWD|_APIKEY|_API_KEY|_AUTH"
    r"|_CREDENTIAL|_CREDENTIALS|_CREDS|_PSK|_PW|_PAT|key-data|authtok|authtoken)"
    r"|[\w.-]{0,64}(?:PASSWORD|PASSWD|PASSPHRASE|PASSCODE|SECRET)[\w.-]{0,64}"
    r"|proxy[_-]?(?:user(?:name)?|pass(?:word|wd)?)|sshpass"
    r"|(?:[\w.-]{0,64}[_.-])?(?:db|user|admin|root|bind|ldap|smtp|mail|ftp|wifi|wpa)[_.-]?(?:pass|pw)"
    r"|[\w.-]{0,64}(?:access|secret|private|account|api|auth|signing|encryption|master|shared"
    r"|SharedAccess)[_-]?key|_authToken|_auth|npmAuthToken|access[_-]?token|auth[_-]?token"
    r"|refresh[_-]?token|client[_-]?secret|password|passwd|passphrase|secret|token"
    r"|pass|pwd|psk|key|credentials?)"
)
VALUE = r"(?P<value>\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|[^\s\"',;}]{1,4096})"
# Every run of name characters is bounded (NAME_MAX): a name starts after any "-" or "."
# too, so an unbounded run, tried from each start to the end of a word, made a line of
# hostile text quadratic (a 1 MB "x-x-x-..." line: minutes). The lookahead (the name, then
# a separator) fails at once where none ends the word: 20 ms on apt's history.log before.
NAME_MAX = 160
SHORT_NAME = rf"[\w.-]{{1,{NAME_MAX}}}+"  # possessive: a longer run is no name at all
ASSIGNMENT = re.compile(
    rf"(?P<name>(?<!\w)(?=[\w.-]{{0,{NAME_MAX}}}+[ \t]*+[=:?+])" + SECRET_NAME + r")"
    r"(?P<sep>[ \t]*(?:=>|:=|\?=|\+=|[=:])[ \t]*)" + VALUE,  # =, :, Perl's =>, make's :=
    re.IGNORECASE,
)
# netrc, apt auth.conf: "login USER password SECRET" (a keyword, a space, the value), and
# the same spelling in other configs (kickstart's rootpw, Ansible's become_pass, apikey,
# ifupdown's wpa-psk, keepalived's auth_pass)
NETRC = re.compile(r"(?P<name>(?<![\w<])(?:--?)?(?:password|passwd|passphrase|rootpw|bindpw"
                   r"|api[_-]?key|(?:ansible_)?(?:become|ssh|sudo)_pass(?:word)?"
                   r"|wpa-psk|auth_pass))"
                   # not PAM's "password required pam_x.so", nor "password = v" (an assignment)
                   r"(?P<sep>[ \t]+)(?![=\[]|(?:required|requisite|sufficient|optional|include"
                   r"|substack)\b)"
                   + VALUE,
                   re.IGNORECASE)  # fmt: skip
# SNMP community strings, which are passwords (snmpd.conf, a switch's config), at a line's
# start only: "community" in prose is not one
SNMP_COMMUNITY = re.compile(
    r"(?P<name>^[ \t]{0,64}(?:snmp-server[ \t]+)?(?:ro|rw)?community6?)(?P<sep>[ \t]+)"
    r"(?P<value>[^\s\"']{1,4096})",
    re.IGNORECASE | re.MULTILINE,
)
# command-line options: --token SECRET, --api-key SECRET, --client-secret SECRET
OPTION = re.compile(
    r"(?P<name>(?<![\w-])--?(?:[\w-]{0,64}(?:token|secret|api-?key|access-?key|private-?key|psk)"
    r"|pass|pwd|credentials?|auth))(?P<sep>[ \t]+)(?P<value>(?!-)[^\s\"',;}]{1,4096})",
    re.IGNORECASE,
)
# XML elements: <password>SECRET</password>, <apiKey>SECRET</apiKey>
XML_SECRET = re.compile(
    r"(?P<name><(?=" + SHORT_NAME + r"[\s>])(?P<tag>" + SECRET_NAME + r")(?:\s[^<>]{0,1024})?>)"
    r"(?P<sep>)"
    r"(?P<value>[^<\n]{1,4096})(?=</(?P=tag)>)",
    re.IGNORECASE,
)
# HTTP cookies are sessions: a Cookie or Set-Cookie header's whole value
COOKIE = re.compile(r"(?P<name>\b(?:Set-)?Cookie)(?P<sep>[ \t]*:[ \t]*)(?P<value>[^\n]+)",
                     re.IGNORECASE)  # fmt: skip
JSON_SECRET = re.compile(
    r"(?P<name>([\"'])(?=" + SHORT_NAME + r"[\"'])(?:" + SECRET_NAME + r"|auth|credentials?)\2\]?)"
    r"(?P<sep>[ \t]*(?:=>|[:=])[ \t]*)"
    r"(?P<value>b?\"[^\"]{1,4096}\"|b?'[^'\n]{1,4096}')",  # JSON, a dict's repr, env['X'] = 'v'
    re.IGNORECASE,  # and PHP's, Perl's and Ruby's 'password' => 'v'
)
# JSON inside a JSON string or a log line: {\"password\":\"v\"}
ESCAPED_JSON_SECRET = re.compile(
    r"(?P<name>\\\"(?=" + SHORT_NAME + r"\\\")(?:" + SECRET_NAME + r"|auth|credentials?)\\\")"
    r"(?P<sep>[ \t]*:[ \t]*)"
    r"(?P<value>\\\"[^\"\n]{1,4096}\\\")",
    re.IGNORECASE,
)
# SQL: CREATE USER ... IDENTIFIED BY 'v', IDENTIFIED WITH plugin BY 'v', BY PASSWORD 'v'
SQL_IDENTIFIED = re.compile(
    r"(?P<name>\bIDENTIFIED[ \t]+(?:WITH[ \t]+\w{1,64}[ \t]+)?BY[ \t]+(?:PASSWORD[ \t]+)?)"
    r"(?P<sep>)(?P<value>'[^'\n]{1,4096}'|\"[^\"\n]{1,4096}\")",
    re.IGNORECASE,
)
# GRUB's users: "password USER SECRET" and "password_pbkdf2 USER HASH" (grub.cfg, grub.d)
# (a user name, then the value ending the line; not PAM's "password required pam_x.so")
GRUB_PASSWORD = re.compile(
    r"(?P<name>^[ \t]{0,64}password(?:_pbkdf2)?[ \t]+"
    r"(?!(?:required|requisite|sufficient|optional|include|substack)\b)[A-Za-z_][\w.@-]{0,63}"
    r"[ \t]+)(?P<sep>)(?P<value>[^\s=\[][^\s]{0,4095})(?=[ \t]*$)",
    re.MULTILINE,
)
# Kubernetes and compose env lists: "- name: DB_PASSWORD" and, on the next line, "value: v"
NAME_VALUE_HINT = re.compile(r"^[ \t]*value[ \t]*:", re.MULTILINE | re.IGNORECASE)
NAME_VALUE_PAIR = re.compile(
    r"(?P<name>^[ \t]{0,256}(?:-[ \t]+)?name[ \t]*:[ \t]*[\"']?(?=" + SHORT_NAME
    + r"[\"']?[ \t]*\r?\n)(?:" + SECRET_NAME + r")[\"']?[ \t]*\r?\n[ \t]{0,256}value[ \t]*:)"
    r"(?P<sep>[ \t]*)" + VALUE,
    re.IGNORECASE | re.MULTILINE,
)
# .NET and Java settings: <add key="Password" value="SECRET"/>, name="token" value="..."
KEY_VALUE_SECRET = re.compile(
    r"(?P<name>\b(?:key|name)[ \t]*=[ \t]*([\"'])(?=" + SHORT_NAME + r"[\"'])" + SECRET_NAME
    + r"\2[ \t]+value[ \t]*=[ \t]*)"
    r"(?P<sep>)(?P<value>\"[^\"\n]{1,4096}\"|'[^'\n]{1,4096}')",
    re.IGNORECASE,
)
# signed URLs: Azure SAS (sig=), AWS and Google presigned URLs (X-Amz-Signature=...)
URL_SIGNATURE = re.compile(
    r"(?P<name>(?<=[?&;])(?:sig|signature|x-(?:amz|goog)-(?:signature|credential|security-token)))"
    r"(?P<sep>=)(?P<value>[^&\s\"'#<>]{1,4096})",
    re.IGNORECASE,
)
# passwords given to -p: mysql -pSECRET, docker login -p SECRET, ipmitool -P SECRET
# (elsewhere -p is a port)
DASH_P = re.compile(
    r"(?P<name>\b(?:mysql\w{0,32}|mariadb\w{0,32})\b[^\n]{0,256}?[ \t](?-i:-p)"
    r"|\blogin\b[^\n]{0,256}?[ \t](?-i:-p)[ \t]+"
    r"|\bipmitool\b[^\n]{0,256}?[ \t](?-i:-P)[ \t]*)"
    r"(?P<sep>)"
    r"(?P<value>[^\s\"']{1,4096})",
    re.IGNORECASE,
)
AUTH_HEADER = re.compile(
    r"(?P<name>\bAuthorization)(?P<sep>[ \t]*[:=][ \t]*)"
    r"(?P<value>(?:Basic|Bearer|Token|Digest)?\s*[^\s\"']+)",
    re.IGNORECASE,
)
PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE "
    r"KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
# YAML block scalars, "password: |" (or >-, or "!vault |"): the value is the lines below that
# are indented more than the key. The hint is what every such key line ends with.
YAML_BLOCK_HINT = re.compile(r":[ \t]*(?:![^\s|>]+[ \t]+)?[|>][+-]?[0-9]?[ \t]*(?:#[^\n]*)?$",
                             re.MULTILINE)  # fmt: skip
YAML_BLOCK_KEY = re.compile(
    r"^(?P<indent>[ \t]{0,256})(?:-[ \t]+)?[\"']?(?=" + SHORT_NAME + r"[\"']?[ \t]*:)"
    r"(?:" + SECRET_NAME + r")[\"']?"
    r"[ \t]*:[ \t]*(?:![^\s|>]+[ \t]+)?[|>][+-]?[0-9]?[ \t]*(?:#[^\n]*)?$",
    re.IGNORECASE | re.MULTILINE,
)
# Token shapes: (kind, pattern, the lowered substrings one of which a match holds).
TOKEN_SHAPES: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), ("hf_",)),
    ("github-token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), ("gh",)),
    ("github-token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"), ("github_pat_",)),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), ("glpat-",)),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
     ("akia", "asia", "agpa", "aida", "aroa")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), ("xox",)),
    ("api-key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b"), ("sk-",)),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36,}\b"), ("npm_",)),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35,}"), ("aiza",)),
    ("google-oauth-token", re.compile(r"\bya29\.[A-Za-z0-9_-]{20,}"), ("ya29.",)),
    ("pypi-token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{20,}"), ("pypi-age",)),
    ("gitlab-token",
     re.compile(r"\bgl(?:rt|rtr|dt|ptt|cbt|soat|oas|ft|imt|agent)-[A-Za-z0-9_-]{20,}"),
     ("glrt", "gldt-", "glptt-", "glcbt-", "glsoat-", "gloas-", "glft-", "glimt-", "glagent-")),
    ("sendgrid-key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"), ("sg.",)),
    ("vault-token", re.compile(r"\bhv[sb]\.[A-Za-z0-9_-]{24,}"), ("hvs.", "hvb.")),
    ("api-key", re.compile(r"\b(?:dop_v1_[a-f0-9]{64}|dapi[a-f0-9]{32}"
                           r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|xapp-[0-9]-[A-Za-z0-9-]{20,})\b"),
     ("dop_v1_", "dapi", "shpat_", "shpss_", "shpca_", "shppa_", "xapp-")),
    ("bearer-token", re.compile(r"\bBearer[ \t]+[A-Za-z0-9._~+/=-]{12,}", re.IGNORECASE),
     ("bearer",)),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
     ("eyj",)),
    ("webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{10,}"
                           r"|https://discord(?:app)?\.com/api/webhooks/[A-Za-z0-9/_-]{10,}"),
     ("hooks.slack", "webhooks")),
    ("api-key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b"), ("k_live_", "k_test_")),
    ("bitbucket-token", re.compile(r"\bATBB[A-Za-z0-9_=.-]{32,}"), ("atbb",)),
    ("tailscale-key", re.compile(r"\btskey-(?:auth|api|client|scim|webhook)-[A-Za-z0-9-]{16,}"),
     ("tskey-",)),
    # password hashes (crypt's, htpasswd's, GRUB's): as good as the password to a cracker
    ("password-hash", re.compile(
        r"\$(?:1|5|6)\$(?:rounds=\d{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{20,}"
        r"|\$(?:y|gy|7)\$[./A-Za-z0-9]{1,128}\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{20,}"
        r"|\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}|\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}"
        r"|\$argon2(?:id|i|d)\$[^\s$]{1,64}\$[^\s$]{1,128}\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}"
        r"|\bgrub\.pbkdf2\.sha512\.\d{1,9}\.[0-9A-Fa-f]{16,}\.[0-9A-Fa-f]{16,}"),
     ("$1$", "$5$", "$6$", "$y$", "$gy$", "$7$", "$2a$", "$2b$", "$2x$", "$2y$", "$apr1$",
      "$argon2", "grub.pbkdf2")),
    # command lines: curl -u user:pass, --proxy-user u:p, sshpass -p secret
    ("credentials", re.compile(r"(?<=\s)(?:-u|--user|--proxy-user|-U)[ \t=]+[^\s:'\"]+:[^\s'\"]+"
                               r"|\bsshpass[ \t]+-p[ \t]*\S+"),
     ("-u", "--user", "sshpass")),
)  # fmt: skip
# Lower-cased substrings one of which every secret above contains: the prefilter.
TELLTALES = (
    "://", "@", "hf_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "akia",
    "asia", "agpa", "aida", "aroa", "xox", "sk-", "npm_", "aiza", "bearer", "eyj",
    "private key", "pass", "pwd", "secret", "token", "key", "auth", "credential", "hooks.slack",
    "webhooks", "k_live_", "k_test_", "-u", "--user", "-U", "psk", "cookie", "sig",
    "mysql", "mariadb", "login", "pw", "ya29.", "pypi-age", "glrt", "gldt-", "glptt-",
    "glcbt-", "glsoat-", "gloas-", "glft-", "glimt-", "glagent-", "sg.", "hvs.", "hvb.",
    "dop_v1_", "dapi", "shpat_", "shpss_", "shpca_", "shppa_", "xapp-", "community",
    "ipmitool", "atbb", "tskey-", "$1$", "$5$", "$6$", "$y$", "$gy$", "$7$", "$2a$", "$2b$",
    "$2x$", "$2y$", "$apr1$", "$argon2", "grub.pbkdf2", "identified", "_pat", "_creds",
)  # fmt: skip
TELLTALE_BYTES = tuple(t.encode() for t in TELLTALES)
TELLTALE_ANYCASE = re.compile("|".join(map(re.escape, TELLTALES)), re.IGNORECASE)
# Placeholders that are not secrets (a value "<redacted:..>" from an earlier pass too).
# A YAML block indicator (|, >-) or tag (!vault) is not the value either: the block below is.
NOT_SECRET = re.compile(r"^(?:<.*>|\*+|x+|none|null|true|false|yes|no|\$\{?\w+\}?|%\w+%|-"
                        r"|[|>][+-]?[0-9]?|![\w!/.-]*)$",
                        re.IGNORECASE)  # fmt: skip
NO_PROXY = re.compile(r"\bno_proxy\b", re.IGNORECASE)


# The named-value patterns, in order, with the substrings (lowered) one of which a match
# holds.
NAMED_VALUES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (AUTH_HEADER, "authorization", ("authorization",)),
    (KEY_VALUE_SECRET, "secret", ("value",)),
    (URL_SIGNATURE, "url-signature", ("sig", "x-amz-", "x-goog-")),
    (DASH_P, "secret", ("mysql", "mariadb", "login", "ipmitool")),
    (JSON_SECRET, "secret", ('"', "'")),
    (ESCAPED_JSON_SECRET, "secret", ('\\"',)),
    (SQL_IDENTIFIED, "secret", ("identified",)),
    (ASSIGNMENT, "secret", ("=", ":")),
    (GRUB_PASSWORD, "secret", ("password",)),  # before NETRC, which takes the user for it
    (NETRC, "secret", ("pass", "pw", "key", "psk")),
    (SNMP_COMMUNITY, "secret", ("community",)),
    (OPTION, "secret", ("-",)),
    (XML_SECRET, "secret", ("</",)),
    (COOKIE, "cookie", ("cookie",)),
)
