"""``python -m aevae_core lessons {list,pretrain}``: the Learn page's lessons for teachers.

``lessons list --json`` prints, for each lesson of ``experiments.LESSONS``, its ``key``,
``title``, ``page`` and ``configs`` (full config dicts, each one a file ``train --config``
accepts). ``lessons pretrain [KEY...]`` queues every run of those lessons (all of them when no
key is given) into the run store, one group per lesson as the Learn page does, and prints the
run ids; a worker or the app trains them before class.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from typing import Any


def add_lessons_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """The ``lessons`` sub-command and its ``list`` and ``pretrain`` actions."""
    lessons = sub.add_parser("lessons", help="list the lessons or queue their runs before class")
    actions = lessons.add_subparsers(
        dest="lessons_command", required=True, parser_class=parser_class
    )
    actions.add_parser("list", help="each lesson's key, title, page and configs").add_argument(
        "--json", action="store_true"
    )
    pretrain = actions.add_parser("pretrain", help="queue the runs of these lessons (all)")
    pretrain.add_argument("keys", nargs="*", metavar="KEY")
    pretrain.add_argument("--json", action="store_true")
    pretrain.add_argument("--runs-dir")


def lesson_table() -> list[dict[str, Any]]:
    """One dict per lesson: key, title, page and its configs as JSON-ready dicts."""
    from aevae_core.lessons.experiments import LESSONS

    return [
        {
            "key": lesson.key,
            "title": lesson.title,
            "page": lesson.page,
            "configs": [config.to_dict() for config in lesson.configs],
        }
        for lesson in LESSONS
    ]


def cmd_lessons(args: argparse.Namespace) -> int:
    table = lesson_table()
    if args.lessons_command == "list":
        if args.json:
            print(json.dumps(table))
        else:
            for lesson in table:
                print(f"{lesson['key']:<14} {len(lesson['configs'])} runs  {lesson['page']:<24} "
                      f"{lesson['title']}")  # fmt: skip
        return 0
    return _pretrain(args, table)


def _pretrain(args: argparse.Namespace, table: list[dict[str, Any]]) -> int:
    from aevae_core.cli_common import bad_value, open_store
    from aevae_core.config import ConfigError, TrainConfig, validate

    keys = [lesson["key"] for lesson in table]
    unknown = [key for key in args.keys if key not in keys]
    if unknown:
        print(f"aevae: error: lessons pretrain: {unknown[0]!r} is not a lesson; "
              f"allowed: {', '.join(keys)}", file=sys.stderr)  # fmt: skip
        return 2
    chosen = [lesson for lesson in table if not args.keys or lesson["key"] in args.keys]
    configs = {
        lesson["key"]: [TrainConfig.from_dict(c) for c in lesson["configs"]] for lesson in chosen
    }
    from aevae_core.jobs.admission import submit_to_store
    from aevae_core.jobs.classroom import LESSONS_OWNER

    for key, lesson_configs in configs.items():  # every config checked before one is queued
        for config in lesson_configs:
            try:
                validate(config)
            except ConfigError as exc:
                bad_value(exc.field, f"lesson {key}: {exc.message}")
    store = open_store(args)
    queued = []
    for key, lesson_configs in configs.items():
        group = secrets.token_hex(4)  # one group per lesson, as the Learn page queues it
        try:
            ids = [
                submit_to_store(store, config, group, owner=LESSONS_OWNER)
                for config in lesson_configs
            ]
        except ConfigError as exc:  # the memory pre-flight: too big for what is free now
            bad_value(exc.field, f"lesson {key}: {exc.message}")
        queued.append({"key": key, "group": group, "run_ids": ids})
    if args.json:
        print(json.dumps(queued))
    else:
        for lesson in queued:
            print(f"# {lesson['key']}: {len(lesson['run_ids'])} runs, group {lesson['group']}",
                  file=sys.stderr)  # fmt: skip
            print("\n".join(lesson["run_ids"]))
    return 0
