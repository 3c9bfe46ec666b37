"""Command line of multiarc-eval (placeholder until its issue lands)."""

from __future__ import annotations

import click


@click.group(name="multiarc-eval")
def main() -> None:
    """Not built yet."""
