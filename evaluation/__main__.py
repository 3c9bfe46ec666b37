"""`python -m multiarc.evaluation`: the same as `multiarc-eval`."""

from multiarc.evaluation.cli import main

main(prog_name="multiarc-eval")
