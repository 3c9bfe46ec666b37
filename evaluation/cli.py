"""Command line of ``multiarc-eval``.

``quick`` and ``basic`` live in :mod:`multiarc.evaluation.cli_run`; ``report`` and
``compare`` in :mod:`multiarc.evaluation.cli_report`. Each module registers its commands on
:data:`main` when it can be imported, so the group always loads.
"""

from __future__ import annotations

import importlib

import click

import multiarc.errors as errors_mod

EPILOG = """\b
Examples:
  multiarc-eval quick                      # device checks, in seconds
  sudo multiarc-eval basic --performance-mode --pairs all
  multiarc-eval basic --replay tests/recordings/b60x4   # a RECORDING, no GPU needed
  multiarc-eval report results/20250101_120000 --format html
  multiarc-eval report benchmark_detail_log.txt --reference reference_perf.csv
  multiarc-eval compare results/BEFORE results/AFTER
  multiarc-eval serve --url http://127.0.0.1:8000 --powers-of-2 --max-batch 64

\b
Verdicts: PASS at most --tolerance (10 %) below the reference, WARN within
twice that, FAIL below; INFO with no reference row; a figure above the GPU's
theoretical peak is FAIL (e.g. D2D without NEOReadDebugKeys=1).

\b
Exit codes: 0 all pass (WARN allowed), 1 a check, step or metric failed,
2 usage or input error (bad option, malformed reference CSV), 3 environment
not ready (no Intel GPU, tools missing, not root for --performance-mode),
130 interrupted (settings restored).
"""


@click.group(
    cls=errors_mod.Group,
    name="multiarc-eval", epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="multiarc")
def main() -> None:
    """Check and measure Intel Arc Pro B60 GPUs, judge the figures against reference_perf.csv."""


def _attach(module: str) -> None:
    mod = importlib.import_module(module)
    for command in getattr(mod, "COMMANDS", []):
        main.add_command(command)


for _module in ("multiarc.evaluation.cli_run", "multiarc.evaluation.cli_report",
                "multiarc.evaluation.cli_serve"):
    try:
        _attach(_module)
    except ModuleNotFoundError as exc:  # a part not built yet in this checkout
        if exc.name != _module:
            raise
