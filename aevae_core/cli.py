"""Command line: ``python -m aevae_core {train,runs,lessons,worker} ...``.

    python -m aevae_core train --dataset digits --model vae --latent-dim 2 --epochs 10
    python -m aevae_core train {--preset NAME | --config FILE.json} [flags]  # flags override it
    python -m aevae_core train --background ...     # queue it; a worker or the app runs it
    python -m aevae_core runs list --json
    python -m aevae_core runs show RUN_ID --json
    python -m aevae_core lessons {list --json | pretrain [KEY...]}  # queue them before class
    python -m aevae_core worker [--backend ray]      # run queued jobs without the app
    python -m aevae_core export RUN_ID --format onnx --out DIR  # or safetensors, torchscript

A bad value exits with code 2 and one line naming the flag and what is allowed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import Any, NoReturn

from aevae_core.cli_common import bad_value, flag, open_store
from aevae_core.cli_export import add_export_parser, cmd_export
from aevae_core.cli_lessons import add_lessons_parser, cmd_lessons
from aevae_core.config import (
    ARCHS,
    DATASETS,
    DEVICES,
    HELP,
    MODELS,
    NOISE_TYPES,
    OPTIMIZERS,
    PRECISIONS,
    RECONS,
    ConfigError,
    TrainConfig,
    parse_hidden,
    show,
    validate,
)
from aevae_core.jobs.classroom import CLI_OWNER
from aevae_core.presets import PRESETS, start_config


def _number(kind: type) -> Any:
    """An argparse type whose error says what is allowed (argparse's own does not)."""

    def convert(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            what = "a whole number, e.g. 3" if kind is int else "a number, e.g. 0.001"
            raise argparse.ArgumentTypeError(
                f"{show(text)} is not a number; allowed: {what}"
            ) from None

    convert.__name__ = kind.__name__
    return convert


def _boolean(text: str) -> bool:
    """``--binarize`` alone, or ``--binarize=true|false`` (yes/no, on/off and 1/0 too)."""
    value = text.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{show(text)} is not true or false; allowed: true, false")


# Which flag sets which TrainConfig field (the flag is the field with dashes).
CONFIG_FLAGS: dict[str, dict[str, Any]] = {
    "dataset": {"choices": DATASETS},
    "data_path": {"metavar": "PATH"},
    "max_samples": {"type": _number(int)},
    "val_fraction": {"type": _number(float)},
    "model": {"choices": MODELS},
    "arch": {"choices": ARCHS},
    "latent_dim": {"type": _number(int)},
    "hidden": {"type": str, "metavar": "N,N,..."},
    "conv_dense": {"type": _number(int)},
    "beta": {"type": _number(float)},
    "kl_warmup": {"type": _number(int), "metavar": "EPOCHS"},
    "recon": {"choices": RECONS},
    "binarize": {"type": _boolean, "nargs": "?", "const": True, "metavar": "true|false"},
    "sigma": {"type": _number(float)},
    "l1_code": {"type": _number(float)},
    "noise": {"type": _number(float)},
    "noise_type": {"choices": NOISE_TYPES},
    "optimizer": {"choices": OPTIMIZERS},
    "lr": {"type": _number(float)},
    "momentum": {"type": _number(float)},
    "weight_decay": {"type": _number(float)},
    "batch_size": {"type": _number(int)},
    "epochs": {"type": _number(int)},
    "seed": {"type": _number(int)},
    "device": {"choices": DEVICES},
    "threads": {"type": _number(int)},
    "precision": {"choices": PRECISIONS},
    "log_every": {"type": _number(int)},
}


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    parser = Parser(prog="aevae", description="Train and inspect autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = sub.add_parser("train", help="train a model (foreground, or --background)")
    defaults = TrainConfig()
    for name, kwargs in CONFIG_FLAGS.items():
        default = getattr(defaults, name)
        shown = ",".join(map(str, default)) if name == "hidden" else default
        train.add_argument(
            flag(name), dest=name, default=None, help=f"{HELP.get(name, '')} (default: {shown})",
            **kwargs,
        )  # fmt: skip
    source = train.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=tuple(PRESETS), help="start from a classic setup")
    source.add_argument("--config", metavar="FILE.json", help="start from a saved config.json")
    train.add_argument("--data-dir", help="dataset folder (default: $AEVAE_DATA_DIR or ./data)")
    train.add_argument("--runs-dir", help="run store (default: $AEVAE_RUNS_DIR or ./runs)")
    train.add_argument("--background", action="store_true", help="queue it and return the run id")
    train.add_argument("--json", action="store_true", help="last stdout line is a JSON summary")
    train.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")

    runs = sub.add_parser("runs", help="list or show stored runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True, parser_class=Parser)
    for name in ("list", "show", "delete", "resume", "cancel"):
        p = runs_sub.add_parser(name)
        if name != "list":
            p.add_argument("run_id")
        p.add_argument("--json", action="store_true")
        p.add_argument("--runs-dir")

    add_lessons_parser(sub, Parser)
    add_export_parser(sub, Parser)

    worker = sub.add_parser("worker", help="run queued jobs until stopped (Ctrl-C)")
    worker.add_argument("--runs-dir")
    worker.add_argument("--data-dir")
    worker.add_argument("--max-workers", type=_number(int), default=None)
    worker.add_argument("--backend", choices=("local", "ray"), help="default: $AEVAE_BACKEND")
    worker.add_argument("--exit-when-idle", action="store_true", help="stop when the queue is idle")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The flags over ``--preset`` or ``--config`` (if any) over TrainConfig's defaults."""
    try:
        base = start_config(args.preset, args.config)
    except ConfigError as exc:  # an unreadable or bad --config file
        bad_value(exc.field, exc.message)
    values: dict[str, Any] = {}
    for name in CONFIG_FLAGS:
        value = getattr(args, name)
        if value is None:
            continue
        if name == "hidden":
            try:
                value = parse_hidden(value)
            except ConfigError as exc:
                bad_value(name, exc.message)
        values[name] = value
    config = base.replace(**values)
    try:
        return validate(config)
    except ConfigError as exc:
        if args.config and exc.field not in values:  # the file's own value
            bad_value("config", f"{args.config}: {exc.field}: {exc.message}")
        bad_value(exc.field, exc.message)


def admit(config: TrainConfig) -> None:
    """Refuse, before a run exists, what could only fail later (jobs/admission.py: the same
    check as the app's): one line naming the flag, exit code 2."""
    from aevae_core.jobs.admission import check

    try:
        check(config)
    except ConfigError as exc:
        bad_value(exc.field, exc.message)


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    admit(config)
    if args.data_dir:
        os.environ["AEVAE_DATA_DIR"] = args.data_dir
    store = open_store(args)
    if args.background:
        from aevae_core.jobs.admission import submit_to_store

        run_id = submit_to_store(store, config, owner=CLI_OWNER)
        print(json.dumps({"run_id": run_id, "status": "queued"}) if args.json else run_id)
        return 0

    from aevae_core.jobs.runner import execute_run
    from aevae_core.model.networks import count_parameters

    run_id = store.create_run(config, status="running", owner=CLI_OWNER)
    bar = _progress_bar(disabled=args.quiet)
    result = execute_run(store, run_id, stop=lambda: False, on_step=bar.step, on_epoch=bar.epoch)
    bar.close()
    run = store.get_run(run_id)
    history = store.metrics(run_id, "epoch")
    summary = {
        "run_id": run_id,
        "status": run["status"],
        "reason": run["reason"],
        "history": history,
        "train_samples_per_s": result.train_samples_per_s if result else 0.0,
        "parameters": count_parameters(result.model) if result else None,
        "run_dir": str(store.run_dir(run_id)),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"run {run_id}: {run['status']}" + (f" ({run['reason']})" if run["reason"] else ""))
        if history:
            last = history[-1]
            print(f"epoch {last['epoch']}: val loss {last['val_loss']:.3f} nats/image")
    return 0 if run["status"] == "completed" else 1


class _progress_bar:  # noqa: N801 - used like a function
    def __init__(self, disabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, disable=disabled, unit="step", file=sys.stderr)
        self.disabled = disabled

    def step(self, m: dict) -> None:
        self.bar.total = m["total_steps"]
        self.bar.n = m["step"]
        self.bar.set_description(f"epoch {m['epoch']}")
        self.bar.set_postfix(loss=f"{m['loss']:.2f}", refresh=False)
        self.bar.refresh()

    def epoch(self, rec: dict) -> None:
        if self.disabled:
            return
        self.bar.write(
            f"epoch {rec['epoch']}: train {rec['train_loss']:.3f}  val {rec['val_loss']:.3f} "
            f"(recon {rec['val_recon']:.3f}, KL {rec['val_kl']:.3f}) nats/image",
            file=sys.stderr,
        )

    def close(self) -> None:
        self.bar.close()


RUN_SUMMARY_KEYS = ("id", "status", "dataset", "model", "latent_dim", "created", "last_epoch",
                    "val_loss", "owner", "started", "ended")  # fmt: skip


def cmd_runs(args: argparse.Namespace) -> int:
    from aevae_core.store.runs import RunNotFound

    store = open_store(args)
    if args.runs_command == "list":
        runs = [{k: r[k] for k in RUN_SUMMARY_KEYS} for r in store.list_runs()]
        if args.json:
            print(json.dumps(runs))
        else:
            for r in runs:
                loss = f"{r['val_loss']:.3f}" if r["val_loss"] is not None else "-"
                print(f"{r['id']}  {r['status']:<11} {r['dataset']:<13} {r['model']:<4} "
                      f"z={r['latent_dim']:<3} epoch {r['last_epoch']:<4} val {loss}")  # fmt: skip
        return 0
    try:
        run = store.get_run(args.run_id)
    except RunNotFound as exc:
        print(f"aevae: error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.runs_command == "show":
        out = {k: v for k, v in run.items() if k != "config"}
        out["config"] = json.loads(run["config"])
        out["history"] = store.metrics(args.run_id, "epoch")
        print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    elif args.runs_command == "delete":
        try:
            store.delete_run(args.run_id)
        except ValueError as exc:  # a running run: it must be stopped first
            print(f"aevae: error: {exc} (aevae runs cancel {args.run_id})", file=sys.stderr)
            return 2
        print(f"deleted {args.run_id}")
    elif args.runs_command == "cancel":
        print(store.request_cancel(args.run_id))
    elif args.runs_command == "resume":
        try:
            store.requeue_for_resume(args.run_id)
        except ValueError as exc:
            print(f"aevae: error: {exc}", file=sys.stderr)
            return 2
        print(f"queued {args.run_id} to resume; a worker or the app will continue it")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from aevae_core.jobs.backends import BackendError
    from aevae_core.jobs.manager import JobManager

    if args.data_dir:
        os.environ["AEVAE_DATA_DIR"] = args.data_dir
    try:
        manager = JobManager(args.runs_dir, max_workers=args.max_workers, backend=args.backend)
    except BackendError as exc:  # a bad AEVAE_BACKEND
        bad_value("backend", str(exc))
    print(f"worker ({manager.backend}): runs of {manager.store.root}", file=sys.stderr)
    # `kill PID` (SIGTERM, what systemd and docker send) shuts down like Ctrl-C: running
    # runs end "interrupted" (resumable) rather than being left to the next reconcile.
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        manager.serve(exit_when_idle=args.exit_when_idle)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        manager.shutdown()
    return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    # torch is imported only once the flags are known to be valid: a typo fails in 0.2 s.
    try:
        commands = {"train": cmd_train, "runs": cmd_runs, "lessons": cmd_lessons,
                    "export": cmd_export}  # fmt: skip
        return commands.get(args.command, cmd_worker)(args)
    except KeyboardInterrupt:
        print("aevae: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        data = sys.modules.get("aevae_core.data.datasets")  # a DatasetError implies it is loaded
        if data is not None and isinstance(exc, data.DatasetError):
            print(f"aevae: error: {exc}", file=sys.stderr)
            return 1
        raise
