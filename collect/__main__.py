"""`python -m multiarc.collect`: the same as `multiarc-collect-sysinfo`."""

from multiarc.collect.entry import main

main()
