"""`python3 -m jibril_rules.cli ...`."""

from . import main

main(prog_name="jibril")
