"""Benchmarks: every scoreledger path beside its bare-SQL equivalent."""
