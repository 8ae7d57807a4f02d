"""`python -m leads_import.cli`: the `leads` command."""

from leads_import.cli.main import console

console()
