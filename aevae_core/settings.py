"""Numeric settings from the environment (``AEVAE_*``): one reading rule for all of them.

Unset or empty: the default. A value that is not a number, or is out of its range, is
logged with the setting's name and what is allowed, and the default is used: a typo in a
server's environment must not stop the server. (The class quota, ``classroom.py``, is
stricter on purpose: a wrong quota refuses starts with the message.)
"""

from __future__ import annotations

import logging
import math
import os
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T", int, float, None)


def env_number(
    name: str, default: T, *, low: float, high: float = math.inf, integer: bool = False
) -> float | T:
    """``name``'s value as a number in [``low``, ``high``] (an int if ``integer``), else
    ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value: float | None = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        allowed = f"from {low:g} to {high:g}" if high < math.inf else f">= {low:g}"
        log.warning("%s=%r: allowed: %s %s; using %s", name, raw, kind, allowed, default)
        return default
    return value
