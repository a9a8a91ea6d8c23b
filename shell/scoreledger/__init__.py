"""scoreledger: a thin Python shell over the PostgreSQL results engine."""

__version__ = "0.1.0"
