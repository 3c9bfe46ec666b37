"""Command line of multiarc-collect-sysinfo (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.group(name="multiarc-collect-sysinfo")
def main() -> None:
    """Not built yet."""
