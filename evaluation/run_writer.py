"""The run folder ``OUTPUT/<YYYYmmdd_HHMMSS>/`` of ``multiarc-eval basic``.

Holds one raw log per step (``steps/NN-name.log``), ``benchmark_detail_log.txt`` (every
tool's output appended in the original's order, exactly what Intel's
platform_basic_evaluation.sh writes, so its gen_evaluation_report.py and our parsers read
it), the oneCCL CSVs, ``steps.json``, ``checks.json``, ``meta.json`` and then the reports.
Everything is written as soon as it is known, so an interrupted run keeps what it did.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from multiarc.evaluation.model import CheckResult, StepResult

from multiarc.errors import InputError
from multiarc.safe_files import unsafe_folder

DETAIL_LOG = "benchmark_detail_log.txt"
STEPS_JSON = "steps.json"
CHECKS_JSON = "checks.json"
META_JSON = "meta.json"
RUN_NAME_FORMAT = "%Y%m%d_%H%M%S"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def _unwritable(output: Path, err: OSError) -> InputError:
    return InputError(
        f"cannot write into the output folder {output}: {err.strerror or err}",
        "choose a writable folder with --output (not read-only, not under /proc or /sys)",
    )


def check_output_folder(output: Path, *, create: bool = False) -> Path:
    """The absolute output folder, proven writable (a probe made and removed in it, or in
    its nearest existing parent when it does not exist yet); InputError (exit 2) when it
    cannot be written: read-only, immutable, no permission, a pseudo file system, a file
    in the way; as root, also when another user could swap it or a folder above it (see
    :func:`multiarc.safe_files.unsafe_folder`). ``create``: make it (parents included, as
    ``mkdir -p``)."""
    output = output.absolute()
    if any(output.is_relative_to(p) for p in (Path("/proc"), Path("/sys"))):
        raise InputError(
            f"cannot write the results under {output}: a kernel pseudo file system",
            "choose a writable folder with --output",
        )
    _refuse_unsafe(output)
    probe_in = output
    while not probe_in.exists() and probe_in != probe_in.parent:
        probe_in = probe_in.parent
    try:
        if not probe_in.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(probe_in))
        os.rmdir(tempfile.mkdtemp(prefix=".multiarc-probe-", dir=probe_in))
        if create:
            output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _unwritable(output, err) from None
    if create:
        _refuse_unsafe(output)  # made by another user first, in between
    return output


def _refuse_unsafe(output: Path) -> None:
    """As root: InputError when another user could swap the run folder for a link."""
    unsafe = unsafe_folder(output, lenient=True) if os.geteuid() == 0 else None
    if unsafe:
        raise InputError(
            f"cannot write the results under {output} as root: {unsafe}",
            "choose a folder of root's or your own with --output (none above it writable by"
            " others unless sticky like /tmp), e.g. --output /root/results",
        )


class RunFolder:
    """One results run: create it, append to the detail log, record steps/checks/meta."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, output: Path) -> RunFolder:
        """A new ``output/<YYYYmmdd_HHMMSS>/`` (waits for the next second if the name is taken).

        The path is made absolute: steps run in their own working folders (ze_peak beside
        its kernels) and write into the run folder (oneCCL's ``-o``), so a relative
        ``--output`` such as the default ``results`` must not depend on their cwd."""
        output = check_output_folder(output, create=True)
        for _ in range(3):
            path = output / datetime.now().strftime(RUN_NAME_FORMAT)
            try:
                path.mkdir()
            except FileExistsError:
                time.sleep(1.0 - (time.time() % 1.0) + 0.01)
                continue
            except OSError as err:
                raise _unwritable(output, err) from None
            (path / "steps").mkdir()
            (path / DETAIL_LOG).touch()
            return cls(path)
        raise InputError(f"{output} already holds runs for every recent second", "try again")

    @property
    def detail_log(self) -> Path:
        return self.path / DETAIL_LOG

    def append_detail(self, text: str) -> None:
        """Append one tool's output as it printed it (the original's ``| tee -a $LOG``)."""
        with open(self.detail_log, "a", encoding="utf-8", errors="replace") as handle:
            handle.write(text)

    def write_steps(self, steps: Iterable[StepResult]) -> None:
        _write_json(self.path / STEPS_JSON, [s.to_dict() for s in steps])

    def write_checks(self, checks: Iterable[CheckResult]) -> None:
        _write_json(self.path / CHECKS_JSON, [c.to_dict() for c in checks])

    def write_meta(self, meta: dict[str, Any]) -> None:
        _write_json(self.path / META_JSON, meta)
