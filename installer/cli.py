"""Command line of multiarc-install (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.group(name="multiarc-install")
def main() -> None:
    """Not built yet."""
