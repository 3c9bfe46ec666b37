"""pytest plugin: record each verify check's host, check, item, outcome and reason as JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from multiarc.installer.verify_checks import RESULTS_ENV

_results: list[dict[str, Any]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if report.skipped and "check" not in props:
            return  # an empty parameter set (nothing of that kind in the bundle): no check
        if report.skipped:
            outcome = "SKIP"
            longrepr = report.longrepr
            detail = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            detail = detail.removeprefix("Skipped: ")
        elif report.failed:
            outcome = "FAIL"
            crash = getattr(report.longrepr, "reprcrash", None)
            detail = str(crash.message) if crash is not None else str(report.longrepr)
            detail = detail.removeprefix("AssertionError: ").split("\nassert ")[0]
        else:
            outcome, detail = "PASS", str(props.get("detail", ""))
        _results.append(
            {
                "nodeid": report.nodeid,
                "host": props.get("host", ""),
                "check": props.get("check", report.nodeid),
                "item": props.get("item", ""),
                "outcome": outcome,
                "detail": str(detail).strip(),
            }
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(RESULTS_ENV)
    if target:
        Path(target).write_text(json.dumps(_results, indent=2))
