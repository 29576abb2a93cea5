"""What every CLI command shares: one-line errors (exit code 2) and opening the run store."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from typing import NoReturn


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def bad_value(field_name: str, message: str) -> NoReturn:
    print(f"aevae: error: {flag(field_name)}: {message}", file=sys.stderr)
    raise SystemExit(2)


def open_store(args: argparse.Namespace):  # noqa: ANN201 - imported lazily to keep --help fast
    from aevae_core.store.runs import RunStore

    try:
        return RunStore(args.runs_dir)
    except (OSError, sqlite3.Error) as exc:
        where = args.runs_dir or os.environ.get("AEVAE_RUNS_DIR") or "./runs"
        bad_value("runs_dir", f"cannot use {where!r} ({exc}); allowed: a folder you can write to")
