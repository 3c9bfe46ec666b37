"""report.html of a serving run (its serving section), from serve_sweep.json's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

_TEMPLATES = Path(__file__).resolve().parents[1] / "reports" / "templates"


def verdict(data: dict[str, Any]) -> str:
    statuses = {p["status"] for p in data["points"]}
    for status in ("FAIL", "WARN", "PASS"):
        if status in statuses:
            return status
    return "INFO"


def write_html(path: Path, data: dict[str, Any]) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    html = env.get_template("serve.html.j2").render(
        title=f"multiarc-eval serve: {data['server']['model']}", data=data, verdict=verdict(data))
    path.write_text(html)
