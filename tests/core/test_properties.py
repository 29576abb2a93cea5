"""Property tests over every setting of ``TrainConfig``: valid configs train, bad ones explain.

Hypothesis draws configs that mix valid values with invalid ones for every field (wrong
types, negatives, zero, huge integers, NaN and infinities, unknown choices, bad hidden-size
strings), built directly or through ``TrainConfig.from_dict`` (the path JSON, the CLI and
the Train page take). The property: each config either passes the checks made before a run
exists (``validate`` and the memory pre-flight, which also builds the network on the meta
device) *and* trains (``fit`` runs its first real optimizer step), or raises a
``ConfigError`` whose field is one of the settings that were wrong and whose message says
what is allowed. Any other exception fails the test.

"Trains" is the real ``fit`` with the drawn config, stopped after its first step: digits
(and small sprites sets) are loaded for real; the other datasets, which may be absent
offline, get a few random images of their shape, since loading them is not a config check.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from aevae_core.config import (
    ARCHS,
    DATASETS,
    DEVICES,
    MODELS,
    NOISE_TYPES,
    OPTIMIZERS,
    PRECISIONS,
    RECONS,
    ConfigError,
    TrainConfig,
    validate,
)
from aevae_core.data.datasets import Dataset, load_dataset
from aevae_core.data.registry import DATASET_INFO
from aevae_core.engine.fit import Callbacks, fit
from aevae_core.engine.preflight import ResourceError, check_memory

FIELDS = tuple(f.name for f in fields(TrainConfig))
# Settings a check made after validate may name although each value was valid on its own:
# the network for the images (check_architecture) and the memory pre-flight.
COMBINATION_FIELDS = {"hidden", "batch_size", "max_samples"}
HUGE = 10**5000  # more digits than Python will print (int -> str is limited to 4300 digits)
# Strategies build it with map(): hypothesis writes sampled values into its reprs.
huge_ints = st.sampled_from([1, -1]).map(lambda sign: sign * HUGE)

# ----------------------------------------------------------------------------- values

not_strings = st.one_of(
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 9), max_size=2),
    st.just(b"1"),
    st.just(complex(1, 1)),
)
not_numbers = st.one_of(not_strings, st.text(max_size=6))
floats_any = st.floats(allow_nan=True, allow_infinity=True)


def bad_int(lo: int, hi: int) -> st.SearchStrategy:
    """Anything an integer setting in [lo, hi] must refuse, floats like 2.0 included."""
    return st.one_of(
        not_numbers,
        floats_any,
        st.integers(max_value=lo - 1),
        st.integers(min_value=hi + 1),
        st.sampled_from([lo - 1, hi + 1, 2**64]),
        huge_ints,
    )


def bad_float(lo: float, hi: float, *, lo_open: bool = False) -> st.SearchStrategy:
    return st.one_of(
        not_numbers,
        st.sampled_from([math.nan, math.inf, -math.inf]),
        huge_ints,
        st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False),
        st.floats(min_value=hi, exclude_min=True, allow_nan=False),
        st.integers(max_value=math.ceil(lo) - 1),
        st.integers(min_value=math.floor(hi) + 1),
    )


def good_float(lo: float, hi: float, *, lo_open: bool = False) -> st.SearchStrategy:
    edges = [hi] if lo_open else [lo, hi]
    return st.one_of(
        st.floats(lo, hi, exclude_min=lo_open, allow_nan=False, allow_infinity=False),
        st.sampled_from(edges),
    )


def bad_choice(allowed: tuple[str, ...]) -> st.SearchStrategy:
    return st.one_of(
        st.text(max_size=12).filter(lambda s: s not in allowed),
        st.sampled_from([a.upper() for a in allowed if a.upper() not in allowed]),
        st.sampled_from([a + " " for a in allowed]),
        not_strings,
        st.integers(),
    )


# Layer sizes kept small enough that one training step takes milliseconds; the largest
# allowed size (4096) still appears, in one layer at most.
small_layers = st.lists(st.integers(1, 64), max_size=5)
good_hidden = st.one_of(
    st.lists(st.integers(1, 64), max_size=6),
    st.tuples(small_layers, st.integers(0, 5)).map(lambda h: [*h[0][: h[1]], 4096, *h[0][h[1] :]]),
).map(tuple)
bad_hidden_text = st.sampled_from(
    ["abc", "0", "12,x", "-5", "4097", "8,,0", "1e3", "1.5", "nan", "64;32", "0x10"]
)
bad_hidden = st.one_of(
    st.lists(st.integers(1, 64), min_size=7, max_size=9).map(tuple),  # too many layers
    st.tuples(st.integers(1, 64), st.one_of(st.integers(max_value=0), st.integers(4097))),
    st.tuples(st.sampled_from([0, -1, 4097, 1.5, math.nan, math.inf, "8", None, True])),
    st.tuples(huge_ints),
    bad_hidden_text,
    st.sampled_from([None, 5, 3.0, {"a": 1}]),
    st.text(alphabet="0123456789,- x.", min_size=1, max_size=12).filter(
        lambda s: not all(p.strip().isdigit() and 1 <= int(p) <= 4096 for p in s.split(","))
    ),
)

GOOD: dict[str, st.SearchStrategy] = {
    "dataset": st.sampled_from(DATASETS),
    "data_path": st.one_of(st.none(), st.text(min_size=1, max_size=40)),
    "max_samples": st.one_of(st.just(0), st.integers(2, 400), st.integers(2, 10_000_000)),
    "val_fraction": good_float(0.0, 0.5, lo_open=True),
    "model": st.sampled_from(MODELS),
    "arch": st.sampled_from(ARCHS),
    "latent_dim": st.integers(1, 128),
    "hidden": good_hidden,
    "beta": good_float(0.0, 1000.0),
    "kl_warmup": st.integers(0, 1000),
    "recon": st.sampled_from(RECONS),
    "binarize": st.booleans(),  # with recon 'bce' only (see config_cases)
    "sigma": good_float(0.0, 10.0),
    "conv_dense": st.one_of(st.just(0), st.integers(1, 64), st.just(4096)),  # with arch 'conv'
    "l1_code": good_float(0.0, 100.0),
    "noise": good_float(0.0, 0.95),  # allowed for both noise types
    "noise_type": st.sampled_from(NOISE_TYPES),
    "optimizer": st.sampled_from(OPTIMIZERS),
    "lr": good_float(0.0, 100.0, lo_open=True),
    "momentum": good_float(0.0, 0.999),
    "weight_decay": good_float(0.0, 1.0),
    "batch_size": st.one_of(st.integers(1, 256), st.just(65536)),
    "epochs": st.integers(1, 10_000),
    "seed": st.integers(0, 2**31 - 1),
    "device": st.sampled_from(DEVICES),
    # fit sets the process's torch thread count: many threads on a shared 2-core machine only
    # slow the step down. 256 is accepted too (test_the_largest_values_are_accepted).
    "threads": st.integers(0, 2),
    "precision": st.sampled_from(PRECISIONS),
    "log_every": st.integers(1, 100_000),
}
BAD: dict[str, st.SearchStrategy] = {
    "dataset": bad_choice(DATASETS),
    "data_path": st.one_of(st.integers(), st.just(b"/tmp/x.npz"), st.lists(st.text(), max_size=1)),
    "max_samples": st.one_of(st.just(1), bad_int(0, 10_000_000)),
    "val_fraction": bad_float(0.0, 0.5, lo_open=True),
    "model": bad_choice(MODELS),
    "arch": bad_choice(ARCHS),
    "latent_dim": bad_int(1, 128),
    "hidden": bad_hidden,
    "beta": bad_float(0.0, 1000.0),
    "kl_warmup": bad_int(0, 1000),
    "recon": bad_choice(RECONS),
    "binarize": st.one_of(st.integers(), st.none(), st.text(max_size=4), st.just(1.0)),
    "sigma": bad_float(0.0, 10.0),
    "conv_dense": bad_int(0, 4096),
    "l1_code": bad_float(0.0, 100.0),
    "noise": bad_float(0.0, 2.0),  # refused whatever the noise type
    "noise_type": bad_choice(NOISE_TYPES),
    "optimizer": bad_choice(OPTIMIZERS),
    "lr": bad_float(0.0, 100.0, lo_open=True),
    "momentum": bad_float(0.0, 0.999),
    "weight_decay": bad_float(0.0, 1.0),
    "batch_size": bad_int(1, 65536),
    "epochs": bad_int(1, 10_000),
    "seed": bad_int(0, 2**31 - 1),
    "device": bad_choice(DEVICES),
    "threads": bad_int(0, 256),
    "precision": bad_choice(PRECISIONS),
    "log_every": bad_int(1, 100_000),
}


def test_every_setting_has_strategies() -> None:
    assert set(GOOD) == set(BAD) == set(FIELDS)


@st.composite
def config_cases(draw: st.DrawFn) -> tuple[dict, set[str], bool]:
    """(values, names of the settings given a bad value, build through from_dict?)."""
    from_dict = draw(st.booleans())
    chosen = draw(st.sets(st.sampled_from(FIELDS)))  # the rest keep their defaults
    bad = draw(st.one_of(st.just(set()), st.sets(st.sampled_from(FIELDS), max_size=3)))
    values = {name: draw(GOOD[name]) for name in sorted(chosen - bad)}
    for name in sorted(bad):
        value = draw(BAD[name])
        if isinstance(value, str) and name == "hidden" and not from_dict:
            value = (value,)  # a string is only parsed by from_dict; here it is one odd "size"
        values[name] = value
    if from_dict and "hidden" in values and "hidden" not in bad:
        # from_dict also takes the forms JSON and the form give: a list or "64,32".
        hidden = values["hidden"]
        values["hidden"] = draw(st.sampled_from([hidden, list(hidden), ",".join(map(str, hidden))]))
    if not from_dict and isinstance(values.get("hidden"), list):
        values["hidden"] = tuple(values["hidden"])
    wrong = set(bad)
    dataset = values.get("dataset", TrainConfig.dataset)
    path = values.get("data_path")
    if dataset == "custom" and (not isinstance(path, str) or not path.strip()):
        wrong.add("data_path")
    if values.get("binarize") is True and values.get("recon", TrainConfig.recon) != "bce":
        wrong.add("binarize")
    if values.get("conv_dense", 0) not in (0, None) and values.get("arch", "mlp") != "conv":
        wrong.add("conv_dense")
    return values, wrong, from_dict


def assert_explains(exc: ConfigError, allowed_fields: set[str]) -> None:
    assert exc.field in allowed_fields, f"{exc.field!r} named; the bad ones: {allowed_fields}"
    assert exc.field in FIELDS
    text = str(exc)
    assert text.startswith(f"{exc.field}: ") and exc.message
    assert "\n" not in text and len(text) < 400, text
    if isinstance(exc, ResourceError):
        assert "free" in exc.message and "reduce" in exc.message, exc.message
    else:
        assert "allowed" in exc.message, exc.message


def tiny_dataset(config: TrainConfig) -> Dataset:
    """The config's dataset where it is cheap to load; otherwise random images of its shape."""
    small = 0 < config.max_samples <= 400
    if config.dataset == "digits" or (config.dataset == "sprites" and small):
        return load_dataset(
            config.dataset,
            seed=config.seed,
            val_fraction=config.val_fraction,
            max_samples=config.max_samples,
        )
    shape = DATASET_INFO[config.dataset]["shape"] or (1, 28, 28)
    images = torch.rand(6, *shape, generator=torch.Generator().manual_seed(config.seed % 1000))
    return Dataset(config.dataset, images[:4], images[4:], None, None, [])


class FirstStep(Callbacks):
    def __init__(self) -> None:
        self.steps: list[dict] = []

    def on_step(self, metrics: dict) -> None:
        self.steps.append(metrics)


def train_first_step(config: TrainConfig) -> None:
    data = tiny_dataset(config)
    watcher = FirstStep()
    threads = torch.get_num_threads()  # fit sets the process-wide thread count
    try:
        if config.device == "cuda" and not torch.cuda.is_available():
            with pytest.raises(ConfigError, match="device: 'cuda'.*auto or cpu"):
                fit(config, data, watcher, stop=lambda: bool(watcher.steps))
            return
        result = fit(config, data, watcher, stop=lambda: bool(watcher.steps))
    finally:
        torch.set_num_threads(threads)
    assert watcher.steps, f"no training step ran: {result.status} ({result.reason})"
    assert math.isfinite(watcher.steps[0]["loss"])
    if result.status == "diverged":  # e.g. lr=100: the guard ends the run and says why
        assert "learning rate" in result.reason, result.reason
        return
    assert result.status in ("stopped", "completed"), result.reason
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(config_cases())
def test_every_config_trains_or_names_the_setting(case) -> None:
    values, wrong, from_dict = case
    try:
        config = TrainConfig.from_dict(values) if from_dict else TrainConfig(**values)
        validate(config)
        check_memory(config)  # also builds the network for the images (on the meta device)
    except ConfigError as exc:
        event(f"refused: {type(exc).__name__} ({'bad value' if wrong else 'combination'})")
        assert_explains(exc, wrong or COMBINATION_FIELDS)
        return
    event("trained")
    assert not wrong, f"{sorted(wrong)} were accepted: {values}"
    train_first_step(config)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(FIELDS), st.data())
def test_one_bad_setting_is_named(name: str, data: st.DataObject) -> None:
    """Whatever the bad value, the error names exactly that setting (the rest are defaults)."""
    value = data.draw(BAD[name])
    changes = {name: value}
    if name == "hidden" and isinstance(value, str):
        changes = {name: (value,)}
    with pytest.raises(ConfigError) as info:
        validate(TrainConfig(**changes))
    assert_explains(info.value, {name})


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=30))
def test_from_json_never_crashes(text: str) -> None:
    """Any text as a config.json: a config, or a ConfigError saying what is allowed."""
    try:
        config = TrainConfig.from_json(text)
    except ConfigError as exc:
        assert "allowed" in exc.message
        return
    assert isinstance(config, TrainConfig)


@pytest.mark.parametrize(
    "text", ["", "[1]", "5", "null", '{"hidden": [NaN]}', '{"hidden": [1e400]}', '{"1": 2, "b": 3}']
)
def test_from_json_of_odd_documents(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(TrainConfig.from_json(text))
    assert "allowed" in info.value.message


def test_the_largest_values_are_accepted() -> None:
    largest = {"threads": 256, "batch_size": 65536, "epochs": 10_000, "latent_dim": 128,
               "seed": 2**31 - 1, "log_every": 100_000, "kl_warmup": 1000, "lr": 100.0,
               "beta": 1000.0, "l1_code": 100.0, "hidden": (4096,) * 6}  # fmt: skip
    assert validate(TrainConfig(**largest)).threads == 256


def test_huge_integers_are_refused_without_printing_them() -> None:
    for name in ("lr", "beta", "latent_dim", "seed"):
        with pytest.raises(ConfigError, match="an integer of about 5001 digits") as info:
            validate(TrainConfig(**{name: HUGE}))
        assert info.value.field == name


def test_custom_needs_a_data_path_and_says_what_is_allowed() -> None:
    for path in (None, "", "   "):
        with pytest.raises(ConfigError, match="allowed: a folder of PNG/JPEG") as info:
            validate(TrainConfig(dataset="custom", data_path=path))
        assert info.value.field == "data_path"


def test_memory_check_of_a_custom_path_too_long_for_the_os() -> None:
    """Path.stat raises ENAMETOOLONG for a name over 255 characters: no crash, no refusal."""
    config = validate(TrainConfig(dataset="custom", data_path="a" * 300 + ".npz"))
    assert check_memory(config).total_bytes > 0


# ----------------------------------------------------------------------------- command line
#
# ``python -m aevae_core train`` with any flags: a queued run (--background, so nothing
# trains) holding exactly the values given, or exit code 2 and one line on stderr naming the
# flag and what is allowed. ``cli.main`` runs in-process (the same code as the subprocess);
# a few subprocess runs at the end check the real command.

FLAG_RE = re.compile(r"(--[a-z][a-z0-9-]*)")
INT_RANGES = {
    "max_samples": (0, 10_000_000),
    "latent_dim": (1, 128),
    "kl_warmup": (0, 1000),
    "batch_size": (1, 65536),
    "epochs": (1, 10_000),
    "seed": (0, 2**31 - 1),
    "threads": (0, 256),
    "log_every": (1, 100_000),
    "conv_dense": (0, 4096),
}
FLOAT_RANGES = {  # name: (lo, hi, lo_open)
    "val_fraction": (0.0, 0.5, True),
    "beta": (0.0, 1000.0, False),
    "l1_code": (0.0, 100.0, False),
    "noise": (0.0, 0.95, False),  # refused above 2, and above 0.95 for masks
    "lr": (0.0, 100.0, True),
    "momentum": (0.0, 0.999, False),
    "weight_decay": (0.0, 1.0, False),
    "sigma": (0.0, 10.0, False),
}
CHOICES = {
    "dataset": DATASETS,
    "model": MODELS,
    "arch": ARCHS,
    "recon": RECONS,
    "noise_type": NOISE_TYPES,
    "optimizer": OPTIMIZERS,
    "device": DEVICES,
    "precision": PRECISIONS,
}
junk_text = st.text(max_size=10)


def _int_text(lo: int, hi: int) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    good = st.integers(lo, hi).map(str)
    bad = st.one_of(
        st.integers(max_value=lo - 1).map(str),
        st.integers(min_value=hi + 1).map(str),
        st.sampled_from(["", "abc", "2.5", "1e3", "nan", "0x10", "9" * 60, "9" * 5000]),
        junk_text.filter(lambda s: not _parses(int, s)),
    )
    return good, bad


def _float_text(lo: float, hi: float, lo_open: bool) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    good = st.floats(lo, hi, exclude_min=lo_open).map(repr)
    bad = st.one_of(
        st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False).map(repr),
        st.floats(min_value=2.0 if hi == 0.95 else hi, exclude_min=True).map(repr),
        st.sampled_from(["", "abc", "nan", "inf", "-inf", "1e999", "1,5", "0.1.2"]),
        junk_text.filter(lambda s: not _parses(float, s)),
    )
    return good, bad


def _parses(kind: type, text: str) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


CLI_GOOD: dict[str, st.SearchStrategy] = {}
CLI_BAD: dict[str, st.SearchStrategy] = {}
for _name, (_lo, _hi) in INT_RANGES.items():
    CLI_GOOD[_name], CLI_BAD[_name] = _int_text(_lo, _hi)
for _name, (_lo, _hi, _open) in FLOAT_RANGES.items():
    CLI_GOOD[_name], CLI_BAD[_name] = _float_text(_lo, _hi, _open)
for _name, _allowed in CHOICES.items():
    CLI_GOOD[_name] = st.sampled_from(_allowed)
    CLI_BAD[_name] = junk_text.filter(lambda s, a=_allowed: s not in a)
# 1 image cannot be split (a combination check): a good value must be good on its own.
CLI_GOOD["max_samples"] = CLI_GOOD["max_samples"].filter(lambda s: s != "1")
CLI_GOOD["hidden"] = st.lists(st.integers(1, 64), max_size=6).map(lambda h: ",".join(map(str, h)))
CLI_BAD["hidden"] = st.one_of(
    bad_hidden_text,
    st.lists(st.integers(1, 64), min_size=7, max_size=9).map(lambda h: ",".join(map(str, h))),
    st.text(alphabet="0123456789,- x.", min_size=1, max_size=12).filter(
        lambda s: not all(p.strip().isdigit() and 1 <= int(p) <= 4096 for p in s.split(","))
    ),
)
CLI_GOOD["binarize"] = st.sampled_from(["true", "false", "yes", "no", "1", "0"])
CLI_BAD["binarize"] = junk_text.filter(
    lambda s: s.strip().lower() not in ("true", "false", "yes", "no", "on", "off", "1", "0")
)
CLI_GOOD["data_path"] = st.just("<npz>")  # replaced by a real .npz file
CLI_BAD["data_path"] = st.text(min_size=1, max_size=30).filter(  # bad for "custom" only
    lambda s: not os.path.exists(s)
)


def test_every_flag_has_strategies() -> None:
    assert set(CLI_GOOD) == set(CLI_BAD) == set(FIELDS)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``python -m aevae_core ARGV``, in this process."""
    from aevae_core import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def assert_one_line_naming(err: str, flags: set[str]) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert "Traceback" not in line and line.startswith("aevae"), line
    named = FLAG_RE.search(line.split("error:", 1)[1])
    assert named and named.group(1) in flags, f"{line!r} should name one of {sorted(flags)}"
    assert "allowed" in line or "choose from" in line or "reduce" in line, line
    return named.group(1)


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_props")
    npz = root / "images.npz"
    np.savez(npz, x=np.zeros((6, 8, 8), np.uint8))
    return root / "runs", npz


@st.composite
def cli_cases(draw: st.DrawFn) -> tuple[dict[str, str], set[str]]:
    chosen = draw(st.sets(st.sampled_from(FIELDS), max_size=8))
    bad = draw(st.one_of(st.just(set()), st.sets(st.sampled_from(FIELDS), max_size=3)))
    values = {name: draw(CLI_GOOD[name]) for name in sorted(chosen - bad)}
    values.update({name: draw(CLI_BAD[name]) for name in sorted(bad)})
    wrong = set(bad) - {"data_path"}  # any path is fine unless the dataset is "custom"
    if values.get("dataset") == "custom" and ("data_path" not in values or "data_path" in bad):
        wrong.add("data_path")
    binarized = values.get("binarize") in ("true", "yes", "1")
    if "binarize" not in bad and binarized and values.get("recon", "bce") != "bce":
        wrong.add("binarize")
    dense = values.get("conv_dense", "0") != "0"
    if "conv_dense" not in bad and dense and values.get("arch", "mlp") != "conv":
        wrong.add("conv_dense")
    return values, wrong


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cli_cases())
def test_cli_train_queues_the_run_or_exits_2_naming_the_flag(cli_files, case) -> None:
    from aevae_core.engine import preflight
    from aevae_core.store.runs import RunStore

    runs, npz = cli_files
    values, wrong = case
    given_values = {
        k: (str(npz) if v == "<npz>" and k == "data_path" else v) for k, v in values.items()
    }
    argv = ["train", "--background", "--runs-dir", str(runs)]
    argv += [f"{flag(name)}={value}" for name, value in given_values.items()]
    with pytest.MonkeyPatch.context() as mp:  # the memory refusal is tested on its own
        mp.setattr(preflight, "free_memory", lambda device: None)
        code, out, err = run_cli(argv)
    event(f"exit {code}" + (" (bad value)" if wrong else ""))
    if code == 2:
        allowed = wrong or {"hidden", "device", "batch_size", "max_samples"}
        assert_one_line_naming(err, {flag(name) for name in allowed})
        return
    assert code == 0, (code, err)
    assert not wrong, f"{sorted(wrong)} were accepted: {argv}"
    run = RunStore(runs).get_run(out.strip())
    assert run["status"] == "queued"
    stored = TrainConfig.from_json(run["config"])
    for name, text in given_values.items():
        expected = getattr(TrainConfig.from_dict({name: text}), name) if name == "hidden" else text
        if name in INT_RANGES:
            expected = int(text)
        elif name in FLOAT_RANGES:
            expected = float(text)
        elif name == "binarize":
            expected = text in ("true", "yes", "1")
        assert getattr(stored, name) == expected, name


@pytest.mark.parametrize(
    "args, named",
    [
        (["--lr=abc"], "--lr"),
        (["--lr=1e999"], "--lr"),
        (["--hidden=0"], "--hidden"),
        (["--hidden=abc"], "--hidden"),
        (["--latent-dim=", "--beta=-1"], "--latent-dim"),
        (["--model=VAE"], "--model"),
        (["--dataset=custom"], "--data-path"),
        (["--dataset=custom", "--data-path=/no/such/file.npz"], "--data-path"),
        (["--dataset=custom", "--data-path=" + "a" * 300 + ".npz"], "--data-path"),
        (["--noise-type=mask", "--noise=1.5"], "--noise"),
        (["--max-samples=1"], "--max-samples"),
        (["--seed=" + "9" * 5000], "--seed"),
    ],
)
@pytest.mark.parametrize("mode", ["--background", "--quiet"])
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, args, named, mode) -> None:
    runs = tmp_path / "runs"
    code, _out, err = run_cli(["train", mode, "--runs-dir", str(runs), *args])
    assert code == 2, err
    assert assert_one_line_naming(err, {named}) == named
    assert not list(runs.glob("*/config.json")), "a refused config must not become a run"


def test_cli_cuda_without_a_gpu_is_refused_before_a_run_exists(tmp_path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    for mode in ("--background", "--quiet"):
        code, _out, err = run_cli(["train", mode, "--runs-dir", str(tmp_path), "--device=cuda"])
        assert code == 2
        assert assert_one_line_naming(err, {"--device"}) == "--device"
    assert not list(tmp_path.glob("*/config.json"))


def test_cli_runs_dir_that_is_a_file(tmp_path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    for argv in (["train", "--background"], ["runs", "list"]):
        code, _out, err = run_cli([*argv, "--runs-dir", str(not_a_folder)])
        assert code == 2
        assert_one_line_naming(err, {"--runs-dir"})


@pytest.mark.parametrize("command", ["show", "delete", "cancel", "resume"])
@pytest.mark.parametrize("run_id", ["20990101-000000-abcdef", "../etc", "x" * 500, ""])
def test_cli_runs_of_an_unknown_id(tmp_path, command, run_id) -> None:
    code, _out, err = run_cli(["runs", command, run_id, "--runs-dir", str(tmp_path)])
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "Traceback" not in line and "run" in line


def test_cli_delete_of_a_running_run_is_refused(tmp_path) -> None:
    from aevae_core.store.runs import RunStore

    store = RunStore(tmp_path)
    run_id = store.create_run(TrainConfig(epochs=1), status="running")
    code, _out, err = run_cli(["runs", "delete", run_id, "--runs-dir", str(tmp_path)])
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "running" in line and "runs cancel" in line
    assert store.get_run(run_id)["status"] == "running", "the run must survive"
    store.finish(run_id, "stopped", "test")
    assert run_cli(["runs", "delete", run_id, "--runs-dir", str(tmp_path)])[0] == 0


def aevae_subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("AEVAE_RUNS_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "aevae_core", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_subprocess_bad_values_and_running_delete(tmp_path) -> None:
    """The real command: exit 2, one line, no traceback (argparse and config errors)."""
    from aevae_core.store.runs import RunStore

    repo = Path(__file__).resolve().parents[2]
    runs = tmp_path / "runs"
    for args, named in (
        (["train", "--hidden", "abc"], "--hidden"),
        (["train", "--background", "--lr=nan"], "--lr"),
        (["worker", "--max-workers", "x"], "--max-workers"),
    ):
        proc = aevae_subprocess(*args, "--runs-dir", str(runs), cwd=repo)
        assert proc.returncode == 2, proc.stderr
        assert assert_one_line_naming(proc.stderr, {named}) == named
    store = RunStore(runs)
    run_id = store.create_run(TrainConfig(epochs=1), status="running")
    proc = aevae_subprocess("runs", "delete", run_id, "--runs-dir", str(runs), cwd=repo)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
