"""The documentation runs: README's plain-PyTorch snippet and examples/train_and_explore.py,
each against a real digits run, checked against what the app computes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aevae_core.config import TrainConfig
from aevae_core.explore import analysis
from aevae_core.jobs.runner import execute_run
from aevae_core.store.runs import RunStore

REPO_ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Use a trained model in plain PyTorch"
PLACEHOLDER = "runs/RUN_ID"


def readme_snippet() -> str:
    """The first ```python block of the README's plain-PyTorch section."""
    text = (REPO_ROOT / "README.md").read_text()
    assert SECTION in text, f"README.md lost its section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "no ```python block in the section"
    return blocks[0]


def test_readme_snippet_loads_a_checkpoint_in_plain_pytorch(tmp_path, capsys) -> None:
    store = RunStore(tmp_path / "runs")
    config = TrainConfig(dataset="digits", model="vae", latent_dim=3, hidden=(32,), epochs=2,
                         batch_size=64, threads=1)  # fmt: skip
    run_id = store.create_run(config, status="running")
    execute_run(store, run_id)
    assert store.get_run(run_id)["status"] == "completed"

    code = readme_snippet()
    assert "weights_only=True" in code and code.count(PLACEHOLDER) == 1
    namespace: dict = {}
    exec(compile(code.replace(PLACEHOLDER, str(store.run_dir(run_id))), "README.md", "exec"),
         namespace)  # fmt: skip
    assert "aevae_core.explore.analysis" not in code and "streamlit" not in code  # plain PyTorch
    # What the snippet computed is what the app computes for this run.
    app_model, _, epoch = analysis.load_model(store, run_id)
    x = namespace["x"].numpy()
    mu, logvar = analysis.encode(app_model, x)
    assert namespace["ckpt"]["epoch"] == epoch == 2
    np.testing.assert_allclose(namespace["mu"].numpy(), mu, atol=1e-6)
    np.testing.assert_allclose(namespace["logvar"].numpy(), logvar, atol=1e-6)
    np.testing.assert_allclose(
        namespace["x_hat"].numpy(), analysis.decode(app_model, mu), atol=1e-6
    )
    assert capsys.readouterr().out.strip() == "2 torch.Size([5, 3]) torch.Size([5, 1, 8, 8])"


@pytest.mark.timeout(120)
def test_example_script_trains_explores_and_plots(tmp_path) -> None:
    out, runs = tmp_path / "out", tmp_path / "runs"
    env = dict(os.environ)
    env.pop("AEVAE_RUNS_DIR", None)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "examples/train_and_explore.py", "--epochs", "2", "--latent-dim", "3",
         "--runs-dir", str(runs), "--out", str(out)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"example script: {seconds:.1f} s")

    # The run is in the store, trained, and the app can open it.
    store = RunStore(runs)
    assert store.get_run(summary["run_id"])["status"] == "completed"
    assert summary["epoch"] == 2
    assert summary["val_loss"] == store.metrics(summary["run_id"], "epoch")[-1]["val_loss"]
    names = sorted(Path(f).name for f in summary["files"])
    assert names == ["latent.html", "loss_curves.html", "reconstructions.png", "traversal.png"]
    assert all(Path(f).stat().st_size > 0 for f in summary["files"])

    # The PNGs hold the app's numbers: 8 images over their reconstructions (8x8 digits,
    # 1 px apart, each pixel 4x4), and a traversal row per latent dimension, 7 columns.
    model, config, _ = analysis.load_model(store, summary["run_id"])
    x = analysis.load_split(config, "val", max_images=8)[0]
    png = np.asarray(Image.open(out / "reconstructions.png"), dtype=np.float64)
    assert png.shape == (4 * (2 * 9 - 1), 4 * (8 * 9 - 1))
    cell = png[::4, ::4][9:17, 0:8] / 255  # the first reconstruction
    assert np.abs(cell - analysis.reconstruct(model, x[:1])[0, 0]).max() <= 0.5 / 255 + 1e-9
    assert np.abs(png[::4, ::4][0:8, 0:8] / 255 - x[0, 0]).max() <= 0.5 / 255 + 1e-9
    traversal = np.asarray(Image.open(out / "traversal.png"))
    assert traversal.shape == (4 * (3 * 9 - 1), 4 * (7 * 9 - 1))
    assert sorted(summary["dims_by_information"]) == [0, 1, 2]
    assert "plotly" in (out / "loss_curves.html").read_text()[:5000].lower()
