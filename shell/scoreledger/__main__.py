"""`python -m scoreledger`: the same command as the `scoreledger` console script."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="scoreledger")
