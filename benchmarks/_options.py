"""Shared by the benchmarks: argparse types for options that take a count, so that a count too
small for the benchmark exits through ``parser.error`` (status 2) naming the option, rather than
failing deep inside a run or silently meaning something else (``--limit 0`` once meant all)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def count(minimum: int = 1) -> Callable[[str], int]:
    """An argparse ``type``: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    parse.__name__ = "count"  # argparse's "invalid count value: 'x'" for what is no whole number
    return parse


def counts(minimum: int = 1) -> Callable[[str], list[int]]:
    """An argparse ``type``: a comma-separated, non-empty list of whole numbers of at least
    ``minimum`` (``4,8,16``)."""
    one = count(minimum)

    def parse(text: str) -> list[int]:
        values = [one(part) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError("must list at least one number")
        return values

    parse.__name__ = "counts"
    return parse
