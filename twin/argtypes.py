"""Argument types for argparse: a number within a range, refused in one line that says what is allowed."""

from __future__ import annotations

import argparse
from typing import Callable

__all__ = ["number_in"]


def number_in(lo: float, hi: float, *, integer: bool = False, what: str = "a number",
              note: str = "") -> Callable[[str], float]:
    """A parser of a number within ``lo … hi`` (inclusive) for ``add_argument(type=...)``.

    Args:
        lo, hi: the allowed range, both ends included.
        integer: whole numbers only (the value is an int).
        what: what to give, for the message of text that is no number (``give a fraction like 0.8``).
        note: said after the range in the out-of-range message (``a fraction of the rating``).
    """
    def parse(text: str) -> float:
        try:
            v = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give {what}") from None
        if not lo <= v <= hi:
            also = f" ({note})" if note else ""
            raise argparse.ArgumentTypeError(f"{text!r}: must be within {lo:g} … {hi:g}{also}")
        return v

    return parse
