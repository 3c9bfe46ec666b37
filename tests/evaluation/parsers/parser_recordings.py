"""Helpers for the parser tests: the recorded tool outputs in tests/recordings/."""

from __future__ import annotations

from pathlib import Path

RECORDINGS = Path(__file__).resolve().parents[2] / "recordings"


def recorded(host: str, name: str) -> str:
    """One recorded output file, e.g. recorded("b60x4", "sycl-ls.txt")."""
    return (RECORDINGS / host / "outputs" / name).read_text()


def filled(text: str, **groups: str) -> str:
    """A recording with its {{name}} placeholders filled in, as the replay shim prints it."""
    for name, value in groups.items():
        text = text.replace("{{" + name + "}}", value)
    return text


def detail_log(host: str = "b60x4") -> str:
    """A recorded benchmark_detail_log.txt (what Intel's original script wrote on that host)."""
    return (RECORDINGS / host / "benchmark_detail_log.txt").read_text()
