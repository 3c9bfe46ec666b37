"""`python -m multiarc.collect`: the same as `multiarc-collect-sysinfo`."""

from multiarc.collect.cli import main

main(prog_name="multiarc-collect-sysinfo")
