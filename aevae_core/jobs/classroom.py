"""One server, one class: owners, quotas, fair-share order and the teacher's password.

The job manager (``manager.py``) and the pages call these; nothing here imports torch or
streamlit, so it is cheap to import and easy to test.

* **Owners.** Every run records who started it: ``cli`` for the command line, ``local``
  for code that names nobody (scripts, tests, the app before it knows its visitor), and for
  a browser ``s-`` followed by an HMAC of a random token kept in that browser's cookie
  (``owner_from_token``). The token itself is never shown: the owner id on the page cannot
  be turned back into a cookie, so no one can claim another student's runs by editing a
  cookie, a URL or a query parameter. A token copied out of another browser is out of scope
  (the README says so): this is a classroom convenience, not authentication.
* **Quota.** At most ``AEVAE_MAX_ACTIVE_PER_OWNER`` (default 3) runs queued or running per
  owner, and one start per ``START_INTERVAL_S`` seconds; ``cli`` and ``local`` are trusted
  local callers (the teacher pre-training runs before class) and are not limited.
* **Fair share.** The next run comes from the owner with the fewest running runs; among
  owners that tie, the one served longest ago (whose last run started earliest, or never),
  then the one with the oldest queued run; within one owner, first in first out. Without
  the "served longest ago" step, student A's second run (queued before B's first) would
  start as soon as A's first one ended and B would wait behind all of A's runs.
  It is the ordering of weighted fair queueing with equal weights, as in Slurm's fair-share
  factor or Kubernetes' priority-and-fairness: one eager student cannot hold a class up.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aevae_core.config import ConfigError
from aevae_core.store.record import Run
from aevae_core.store.runs import QUOTA_SETTING

LOCAL_OWNER = "local"
CLI_OWNER = "cli"
# A lesson's runs are class material, shared by every student: one set per lesson (the Learn
# page reuses queued, running and finished ones), so they are capped without a quota.
LESSONS_OWNER = "lessons"
TRUSTED_OWNERS = (LOCAL_OWNER, CLI_OWNER, LESSONS_OWNER)  # no quota, no rate limit
DEFAULT_MAX_ACTIVE = 3
START_INTERVAL_S = 2.0
SECRET_FILE = ".owner_secret"
NOT_YOURS = "Another student's run: only its owner or the teacher can stop, resume or delete it."


class StartedTooSoon(ConfigError):
    """A start refused by the per-owner rate limit."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(
            "Start training",
            f"one start per {START_INTERVAL_S:g} s per student; try again in {wait_s:.1f} s",
        )
        self.wait_s = wait_s


class NotYourRun(PermissionError):
    """Stop, resume or delete asked for by someone who neither owns the run nor teaches."""


def max_active_per_owner() -> int:
    """``AEVAE_MAX_ACTIVE_PER_OWNER`` (a positive integer), else 3."""
    raw = os.environ.get(QUOTA_SETTING, "").strip()
    if not raw:
        return DEFAULT_MAX_ACTIVE
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(QUOTA_SETTING, f"must be a whole number of at least 1, not {raw!r}")
    return value


def now() -> float:
    """The rate limit's clock (monotonic seconds); a function so tests can set it."""
    return time.monotonic()


def is_limited(owner: str) -> bool:
    """Whether the quota and the rate limit apply to this owner (browsers: yes)."""
    return owner not in TRUSTED_OWNERS


# -- owners --------------------------------------------------------------------------------
def server_secret(root: str | Path) -> bytes:
    """The HMAC key of this runs directory: made once (mode 0600), kept across restarts so
    a browser keeps its owner after the server restarts."""
    path = Path(root) / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    key = secrets.token_hex(32)
    try:  # O_EXCL: when two processes race, the first one's key wins and both read it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    return bytes.fromhex(key)


def new_token() -> str:
    """A browser's secret: 128 random bits, kept in its cookie."""
    return secrets.token_hex(16)


def is_token(value: object) -> bool:
    """Whether ``value`` looks like a token new_token made (32 hex digits)."""
    if not isinstance(value, str) or len(value) != 32:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def owner_from_token(token: str, secret: bytes) -> str | None:
    """The owner id a browser's token stands for; None for anything that is not a token."""
    if not is_token(token):
        return None
    return "s-" + hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()[:12]


def control_refusal(run: Run, owner: str | None, teacher: bool = False) -> str | None:
    """Why ``owner`` may not stop, resume or delete ``run``; None when they may."""
    if teacher or owner is None or run.get("owner", LOCAL_OWNER) == owner:
        return None
    return NOT_YOURS


# -- the teacher ---------------------------------------------------------------------------
def password_matches(given: str, expected: str | None) -> bool:
    """Constant-time comparison (hmac.compare_digest); False when no password is set."""
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# -- fair share ----------------------------------------------------------------------------
def fair_order(
    queued: Iterable[dict[str, Any]],
    running: dict[str, int],
    last_started: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """The queued runs in the order the scheduler will start them.

    ``running``: running runs per owner now; ``last_started``: when each owner's latest run
    started (absent: never). Each pick counts as running and as just served for the next
    one, so the order is also the queue position a student is shown.
    """
    heads: dict[str, list[dict[str, Any]]] = {}
    for run in sorted(queued, key=lambda r: r["seq"]):
        heads.setdefault(run.get("owner") or LOCAL_OWNER, []).append(run)
    counts = dict(running)
    served = {o: t for o, t in (last_started or {}).items() if t is not None}  # never: -1
    clock = max(served.values(), default=0.0)
    order = []
    while heads:
        owner = min(
            heads, key=lambda o: (counts.get(o, 0), served.get(o, -1.0), heads[o][0]["seq"])
        )
        order.append(heads[owner].pop(0))
        counts[owner] = counts.get(owner, 0) + 1
        clock += 1.0
        served[owner] = clock
        if not heads[owner]:
            del heads[owner]
    return order
