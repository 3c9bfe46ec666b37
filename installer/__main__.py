"""`python -m multiarc.installer`: the same as `multiarc-install`."""

from multiarc.installer.cli import main

main(prog_name="multiarc-install")
