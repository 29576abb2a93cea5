"""The Train form in a real browser (issue 12): what a student clicks does what it says.

1. A denoising AE's noise does not follow the student to the AE trained next (the stored
   config of the AE says noise 0).
2. At 1366x768 (a laptop) a double click on Start, then one more click, start one run (a
   second Start of the same settings while that run is active shows it), and the live panel
   is in the viewport afterwards, although the button is at the foot of a long form.
3. A .zip of images in two class folders, uploaded on the form, trains to completion.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from e2e_helpers import Server, assert_no_exception, wait_until_idle
from PIL import Image
from playwright.sync_api import expect

from aevae_core.store.runs import RunStore

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SHOTS = Path("/work/shots/G") if Path("/work/shots").is_dir() else None
LIVE = ".st-key-train_live"


def _open_train(page, server: Server) -> None:
    page.goto(f"{server.url}/train")
    page.locator("h1", has_text=re.compile(r"^Train$")).wait_for()
    wait_until_idle(page)


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_until_idle(page)


def _fill(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")
    wait_until_idle(page)
    assert field.input_value() == value, label


def _new_runs(store: RunStore, before: set[str], n: int, timeout_s: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        new = [r for r in store.list_runs() if r["id"] not in before]
        if len(new) >= n or time.monotonic() > deadline:
            return new
        time.sleep(0.2)


def test_a_dae_noise_does_not_leak_into_the_next_ae(page, server: Server):
    _open_train(page, server)
    _fill(page, "Epochs", "1")
    _choose(page, "Model", "Denoising AE")
    expect(page.get_by_text("Input noise")).to_have_count(1)
    _choose(page, "Model", "AE")
    # Retried until the rerun has drawn the AE's form (a loaded machine lags a click).
    expect(page.get_by_text("Input noise")).to_have_count(0)
    store = RunStore(server.runs_dir)
    before = {r["id"] for r in store.list_runs()}
    page.get_by_role("button", name="Start training").click()
    new = _new_runs(store, before, 1)
    assert len(new) == 1, f"{len(new)} runs started"
    config = json.loads(new[0]["config"])
    assert config["model"] == "ae" and config["noise"] == 0.0, config
    assert_no_exception(page, "Train after an AE's Start")


def test_a_double_click_starts_one_run_and_the_panel_is_in_view(page, server: Server):
    page.set_viewport_size({"width": 1366, "height": 768})
    _open_train(page, server)
    _fill(page, "Epochs", "50")  # still running at the second click; stopped at the end
    _fill(page, "Seed", "7")  # settings no other test starts
    store = RunStore(server.runs_dir)
    before = {r["id"] for r in store.list_runs()}
    button = page.get_by_role("button", name="Start training")
    button.scroll_into_view_if_needed()
    button.dblclick()
    page.get_by_text(re.compile(r"(Training…|Queued)")).first.wait_for()
    wait_until_idle(page)
    # ... and once more, as a student who saw nothing happen by the button would.
    button.click()
    wait_until_idle(page)
    time.sleep(3)  # a second submit would be in the store by now
    new = _new_runs(store, before, 2, timeout_s=1)
    assert len(new) == 1, f"a double click and a click started {len(new)} runs"
    box = page.locator(LIVE).bounding_box()
    assert box is not None, "no live panel"
    # Its top (title, status, progress) is within the 768 px viewport, below the header.
    assert 0 <= box["y"] < 768 - 150, f"the live panel is out of view: {box}"
    assert page.locator(LIVE).get_by_text(new[0]["id"]).first.is_visible()
    if SHOTS:
        page.screenshot(path=str(SHOTS / "train-after-start-1366x768.png"))
        page.set_viewport_size({"width": 1920, "height": 1080})
        time.sleep(0.5)
        page.screenshot(path=str(SHOTS / "train-after-start-1920x1080.png"))
    page.get_by_role("button", name="Stop").click()
    wait_until_idle(page)
    assert_no_exception(page, "Train after a double click on Start")
    assert not page.js_errors, page.js_errors


def _pets_zip() -> bytes:
    """Two classes of 12x12 images: bright squares and dark ones, in one enclosing folder."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, level in (("bright", 200), ("dark", 40)):
            for i in range(12):
                pixels = np.clip(level + rng.normal(0, 20, (12, 12)), 0, 255).astype(np.uint8)
                png = io.BytesIO()
                Image.fromarray(pixels, "L").save(png, format="PNG")
                archive.writestr(f"pets/{label}/{i}.png", png.getvalue())
    return buffer.getvalue()


def test_a_zip_upload_trains(page, server: Server):
    _open_train(page, server)
    _choose(page, "Dataset", "custom · your own images (.npz, .zip or a folder)")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        {"name": "pets.zip", "mimeType": "application/zip", "buffer": _pets_zip()}
    )
    page.get_by_text(re.compile(r"2 classes")).wait_for()
    wait_until_idle(page)
    _fill(page, "Epochs", "2")
    store = RunStore(server.runs_dir)
    before = {r["id"] for r in store.list_runs()}
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(re.compile(r"Completed 2 epochs")).wait_for(timeout=120_000)
    new = _new_runs(store, before, 1)
    assert len(new) == 1 and new[0]["status"] == "completed", new
    config = json.loads(new[0]["config"])
    assert config["dataset"] == "custom" and Path(config["data_path"]).is_dir(), config
    assert sorted(p.name for p in Path(config["data_path"]).iterdir()) == ["bright", "dark"]
    if SHOTS:
        page.set_viewport_size({"width": 1366, "height": 768})
        time.sleep(2)  # the sidebar's job list refreshes (1 s) after the run's end
        wait_until_idle(page)
        page.screenshot(path=str(SHOTS / "train-zip-upload-completed-1366x768.png"))
    assert_no_exception(page, "Train after a zip upload")
    assert not page.js_errors, page.js_errors
