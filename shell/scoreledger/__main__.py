"""`python -m scoreledger`: the same command as the `scoreledger` console script."""

from .cli import main

main(prog_name="scoreledger")
