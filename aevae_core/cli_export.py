"""``python -m aevae_core export RUN_ID --format onnx|safetensors|torchscript --out DIR``.

Writes the run's encoder and decoder (see ``export.py`` for what they take and give). A bad
run id, format, epoch or folder, or a missing package, is one line on stderr and exit code 2.
Nothing heavy is imported until the command runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

FORMATS = ("onnx", "safetensors", "torchscript")  # export.FORMATS, without importing torch


def add_export_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """The ``export`` sub-command."""
    export = sub.add_parser("export", help="write a run's encoder and decoder for other tools")
    export.add_argument("run_id")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    export.add_argument(
        "--epoch", type=_whole, default=None, help="an epoch with a checkpoint (default: the last)"
    )
    export.add_argument("--runs-dir")


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number; allowed: an epoch that has a checkpoint, e.g. 1"
        ) from None


def cmd_export(args: argparse.Namespace) -> int:
    from aevae_core.cli_common import open_store
    from aevae_core.export import ExportError, export_run, require

    try:
        require(args.format)  # before opening anything: a missing package is said first
        store = open_store(args)
        paths = export_run(store, args.run_id, args.format, args.out, epoch=args.epoch)
    except ExportError as exc:
        flag = {"run": "RUN_ID"}.get(exc.field, "--" + exc.field)
        print(f"aevae: error: {flag}: {exc.message}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0
