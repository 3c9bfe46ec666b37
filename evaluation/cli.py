"""Command line of ``multiarc-eval``.

``quick`` and ``basic`` live in :mod:`multiarc.evaluation.cli_run`; ``report`` and
``compare`` in :mod:`multiarc.evaluation.cli_report`. Each module registers its commands on
:data:`main` when it can be imported, so the group always loads.
"""

from __future__ import annotations

import importlib

import click

EPILOG = """\b
Exit codes: 0 all pass, 1 a check or metric failed, 2 usage or input error,
3 environment not ready (tools or GPUs missing).
"""


@click.group(
    name="multiarc-eval", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="multiarc")
def main() -> None:
    """Check and measure Intel Arc Pro B60 GPUs, judge the figures against reference_perf.csv."""


def _attach(module: str) -> None:
    mod = importlib.import_module(module)
    for command in getattr(mod, "COMMANDS", []):
        main.add_command(command)


for _module in ("multiarc.evaluation.cli_run", "multiarc.evaluation.cli_report"):
    try:
        _attach(_module)
    except ModuleNotFoundError as exc:  # a part not built yet in this checkout
        if exc.name != _module:
            raise
