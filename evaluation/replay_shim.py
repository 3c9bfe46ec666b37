"""A recorded tool: prints what ``host.json`` says the tool printed on the recorded host.

Run as a script (no multiarc import, so a call costs one bare Python start-up)::

    python replay_shim.py RECORDING_DIR TOOL [ARGS...]

It implements the replay table of ``tests/recordings/README.md``: the first entry of
``TOOL`` whose ``args`` equal the call's arguments, or whose ``args_regex`` matches them
joined by single spaces, is played back: ``delay_s``, then ``stdout``/``stderr`` files with
``{{group}}`` placeholders filled from the regex groups, ``writes`` (recorded files copied
to the paths the call named), ``fault`` (``hang``, ``crash``, ``garbage``) and ``exit``.
A call with no recording prints ``replay: no recording for: TOOL ARGS`` and exits 127.
An entry with ``sequence`` (a list of partial entries: ``stdout``, ``exit``, ...) answers
its k-th identical call with the k-th of them (the last one from then on): a figure that
flutters, as a real host's may (counted in the folder ``MULTIARC_REPLAY_STATE`` names).

When ``MULTIARC_REPLAY_CALLS`` names a file, every call is appended to it as one JSON line
(tests use it to see which commands the evaluation ran, e.g. the frequency restore).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

NO_RECORDING_EXIT = 127
HANG_SECONDS = 24 * 3600
GARBAGE_SEED = 20251123
CALL_LOG_ENV = "MULTIARC_REPLAY_CALLS"
STATE_ENV = "MULTIARC_REPLAY_STATE"


def find_entry(
    commands: list[dict[str, Any]], tool: str, args: list[str]
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The first matching entry and its regex groups (names with a value only)."""
    joined = " ".join(args)
    for entry in commands:
        if entry.get("tool") != tool:
            continue
        if "args" in entry and list(entry["args"]) == args:
            return entry, {}
        pattern = entry.get("args_regex")
        if pattern is not None:
            match = re.search(pattern, joined)
            if match:
                groups = {k: v for k, v in match.groupdict().items() if v is not None}
                return entry, groups
    return None


def fill(data: bytes, groups: dict[str, str]) -> bytes:
    for name, value in groups.items():
        data = data.replace(b"{{" + name.encode() + b"}}", value.encode())
    return data


def _inside(recording: Path, relative: str) -> Path:
    path = (recording / relative).resolve()
    if not path.is_relative_to(recording.resolve()):
        raise ValueError(f"{relative!r} leaves the recording")
    return path


# Environment variables a call is logged with (where set): what the evaluation must pass on.
LOGGED_ENV = ("NEOReadDebugKeys", "RenderCompressedBuffersEnabled", "SETVARS_COMPLETED",
              "ONEAPI_ROOT")


def _log_call(tool: str, args: list[str]) -> None:
    target = os.environ.get(CALL_LOG_ENV)
    if not target:
        return
    env = {name: os.environ[name] for name in LOGGED_ENV if name in os.environ}
    record = {"tool": tool, "args": args, "cwd": os.getcwd(), "env": env}
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _call_number(tool: str, args: list[str]) -> int:
    """How many identical calls came before this one (0 without a state folder)."""
    folder = os.environ.get(STATE_ENV)
    if not folder:
        return 0
    import hashlib

    name = hashlib.sha1(" ".join([tool, *args]).encode()).hexdigest()
    fd = os.open(os.path.join(folder, f"calls-{name}"), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                 0o600)  # fmt: skip
    try:
        before = os.fstat(fd).st_size
        os.write(fd, b".")
    finally:
        os.close(fd)
    return before


def play(recording: Path, tool: str, args: list[str]) -> int:
    _log_call(tool, args)
    host = json.loads((recording / "host.json").read_text())
    found = find_entry(host.get("commands", []), tool, args)
    if found is None:
        sys.stderr.write(f"replay: no recording for: {' '.join([tool, *args])}\n")
        return NO_RECORDING_EXIT
    entry, groups = found
    sequence = entry.get("sequence")
    if isinstance(sequence, list) and sequence:
        entry = {**entry, **sequence[min(_call_number(tool, args), len(sequence) - 1)]}
    time.sleep(float(entry.get("delay_s", 0)))
    out = sys.stdout.buffer
    fault = entry.get("fault")
    if fault == "hang":
        out.flush()
        time.sleep(HANG_SECONDS)
        return 0
    if fault == "garbage":
        import random

        rng = random.Random(GARBAGE_SEED)
        out.write(bytes(rng.randrange(256) for _ in range(2048)))
        out.flush()
        return int(entry.get("exit", 0))
    for group, relative in (entry.get("writes") or {}).items():
        if group in groups:
            Path(groups[group]).write_bytes(fill(_inside(recording, relative).read_bytes(), groups))
    if entry.get("stdout"):
        out.write(fill(_inside(recording, entry["stdout"]).read_bytes(), groups))
        out.flush()
    if entry.get("stderr"):
        sys.stderr.buffer.write(fill(_inside(recording, entry["stderr"]).read_bytes(), groups))
        sys.stderr.flush()
    if fault == "crash":
        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)
    return int(entry.get("exit", 0))


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("usage: replay_shim.py RECORDING_DIR TOOL [ARGS...]\n")
        return 2
    try:
        return play(Path(argv[0]), argv[1], argv[2:])
    except (OSError, ValueError, re.error) as err:
        sys.stderr.write(f"replay: broken recording for {argv[1]}: {err}\n")
        return NO_RECORDING_EXIT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
