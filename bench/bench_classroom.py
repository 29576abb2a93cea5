"""Classroom load test: 30 sessions on one app, each starting a small job and watching it.

    python bench/bench_classroom.py [--sessions 30] [--epochs 2] [--max-workers 2]
                                    [--watch 0.5 1.0] [--full-reruns] [--browsers]

**AppTest mode (the default).** ``--sessions`` AppTest sessions of ``app.py`` in this one
process, one thread each, sharing one JobManager as one server's browser tabs do; each
opens Train, sets a small job (``--epochs``, ``--hidden``), presses Start with the others
(within ``--start-spread`` s) and watches its run as its browser tab would (the page's
fragment timers; every ``--watch`` s a switch to Runs with chance ``--switch``; or,
``--full-reruns``, a whole-page rerun) until every run has ended. The scenario and its
harness are test support (tests/support/classroom_scenario.py, classroom_harness.py),
shared with tests/app/test_classroom.py. Every ``at.run()`` is timed.

**Browser mode (``--browsers``).** A real ``streamlit run`` server and headless Chromium
contexts (bench/bench_classroom_browsers.py); on 2 cores the browsers, not the app, use
the CPU.

Targets (PASS/FAIL each): every run completes; at most ``max_workers`` runs are running at
once and runs start in submission order (both read from the store's ``seq``, ``started``
and ``ended``); no session shows an exception; page renders while jobs are queued or
running <= 1 s at the 95th percentile. The load average is printed with the figures, which
depend on it. ``--runs-per-session 3``: issue 14's fair-share figures.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests", REPO / "tests" / "e2e"):  # shared test support
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from support.classroom_result import fmt_load  # noqa: E402
from support.classroom_scenario import (  # noqa: E402
    APPTEST_TIMEOUT_S,
    SESSIONS,
    START_SPREAD_S,
    SWITCH_P,
    WATCH_S,
    run_scenario,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--hidden", default="64", help="the MLP's hidden sizes, e.g. 64 or 128,64")
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument(
        "--watch",
        type=float,
        nargs=2,
        default=WATCH_S,
        metavar=("MIN", "MAX"),
        help="AppTest mode: seconds between a session's reruns of its page",
    )
    parser.add_argument(
        "--switch",
        type=float,
        default=SWITCH_P,
        help="AppTest mode: chance that a session goes to Runs (and back) instead of a rerun",
    )
    parser.add_argument(
        "--start-spread",
        type=float,
        default=START_SPREAD_S,
        help="AppTest mode: the sessions press Start within this many seconds (random)",
    )
    parser.add_argument(
        "--full-reruns",
        action="store_true",
        help="AppTest mode: every --watch interval a full rerun of the page, instead of the "
        "page's own fragment timers (live panel, job list) as a browser runs them",
    )
    parser.add_argument(
        "--browsers",
        action="store_true",
        help="real Chromium contexts against a `streamlit run` server (on 2 cores the "
        "browsers, not the app, use the CPU)",
    )
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(4.0, 10.0),
        metavar=("MIN", "MAX"),
        help="browser mode: seconds a student watches before switching to Runs and back",
    )
    parser.add_argument(
        "--runs-per-session",
        type=int,
        default=1,
        help="AppTest mode: each session presses Start this many times, 2 s apart (issue 14's "
        "fair-share figure: 3, with the default quota of 3)",
    )
    parser.add_argument("--timeout", type=float, help="the whole scenario's time limit (s)")
    parser.add_argument("--keep", type=Path, help="keep the runs (and the server log) here")
    args = parser.parse_args(argv)

    # Calling the app's cached manager() outside a script run, as the bench does, warns.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage()
    )
    if args.browsers:
        from e2e_helpers import missing_browser_reason

        reason = missing_browser_reason()
        if reason:
            print(f"cannot run: {reason}")
            return 2
    import streamlit

    load = os.getloadavg()
    print(
        f"bench_classroom ({'browsers' if args.browsers else 'AppTest'}): load average "
        f"{fmt_load(load)} at start; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; Streamlit {streamlit.__version__}; "
        f"{args.sessions} sessions, digits, {args.epochs} epoch(s), hidden {args.hidden}, "
        f"max_workers {args.max_workers}",
        flush=True,
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    common = {
        "epochs": args.epochs,
        "hidden": args.hidden,
        "max_workers": args.max_workers,
        "workdir": args.keep,
    }
    if args.browsers:
        from bench_classroom_browsers import TIMEOUT_S, run_browser_scenario

        result = run_browser_scenario(
            args.sessions,
            think=tuple(args.think),
            timeout=args.timeout or TIMEOUT_S,
            **common,
        )
    else:
        result = run_scenario(
            args.sessions,
            watch=tuple(args.watch),
            switch=args.switch,
            full_reruns=args.full_reruns,
            start_spread=args.start_spread,
            timeout=args.timeout or APPTEST_TIMEOUT_S * args.runs_per_session,
            runs_per_session=args.runs_per_session,
            **common,
        )
    print(result.report())
    failed = [name for name, _, _, ok in result.targets() if not ok]
    print("FAIL: " + "; ".join(failed) if failed else "PASS: every target met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
