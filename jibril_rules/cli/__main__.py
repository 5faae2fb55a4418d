"""`python3 -m jibril_rules.cli ...`."""

from . import entry

entry()
