"""The MLOps sidebar in a real JupyterLab and a real Chromium.

A notebook with ``%%track`` cells runs inside JupyterLab; its runs appear in the sidebar
without a page reload; a run's detail inserts its source into the notebook; the run is
promoted from the UI and shows up in the Models view; the tabs and the tables of runs and
versions are driven from the keyboard. Screenshots (light and dark theme)
go to ``tests/ui/screenshots/``; with ``UPDATE_DOCS_SCREENSHOT=1`` the light run detail is
also copied to ``docs/sidebar.png`` (the README's picture).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

# pytest-jupyter's cleanup cannot run its coroutine while Playwright's loop runs: harmless here
pytestmark = pytest.mark.filterwarnings(
    "ignore:coroutine 'ServerApp._cleanup' was never awaited:RuntimeWarning")

DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "sidebar.png"
SLOW = 120_000  # ms: a kernel start and a scikit-learn import on a busy 2-core machine

CELLS = [
    "%load_ext jupyter_mlops",
    "%%track prep -e ui\n"
    "import numpy as np\n"
    "rng = np.random.default_rng(0)\n"
    "X = rng.normal(size=(300, 4))\n"
    "y = (X[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(int)",
    "%%track train -e ui\n"
    "import jupyter_mlops as mlops\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "for step, C in enumerate([0.01, 0.1, 1.0]):\n"
    "    model = LogisticRegression(C=C).fit(X, y)\n"
    "    mlops.log_metric('train_acc', model.score(X, y), step=step)\n"
    "acc = model.score(X, y)",
    "%%track broken -e ui\n"
    "raise ValueError('boom: a failing cell is recorded as a failed run')",
]
TRAIN_SOURCE_LINE = "model = LogisticRegression(C=C).fit(X, y)"


def test_the_extensions_are_installed_and_enabled() -> None:
    """What `pip install -e .` promised: both halves listed as enabled and OK."""
    jupyter = [sys.executable, "-m", "jupyter"]
    labextensions = subprocess.run([*jupyter, "labextension", "list"], capture_output=True,
                                   text=True, check=True)
    listing = labextensions.stdout + labextensions.stderr
    assert re.search(r"jupyter-mlops v\S+ .*enabled.*OK", listing), listing
    servers = subprocess.run([*jupyter, "server", "extension", "list"], capture_output=True,
                             text=True, check=True)
    listing = servers.stdout + servers.stderr
    assert re.search(r"jupyter_mlops .*enabled", listing), listing
    assert re.search(r"jupyter_mlops .*OK", listing), listing


@pytest.fixture
def page(lab: Any, watched_page: Any) -> Iterator[Any]:
    with watched_page("sidebar", width=1280, height=800) as opened:
        yield opened


def open_lab(page: Any, lab: Any, path: str) -> None:
    page.goto(lab.lab_url(f"lab/tree/{path}"))
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=SLOW)


def sidebar_width(page: Any, width: int) -> None:
    """Drag the left panel's splitter, as a user would, to give the sidebar room."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(width, y, steps=5)
    page.mouse.up()


def test_runs_appear_live_and_a_run_is_inserted_and_promoted(
    page: Any, lab: Any, screenshots: Path
) -> None:
    # Given a notebook with %%track cells, and JupyterLab open on it with the sidebar
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, lab.root / "track.ipynb")
    open_lab(page, lab, "track.ipynb")
    sidebar_tab = page.get_by_role("tab", name="MLOps", exact=True)
    sidebar_tab.click()
    sidebar = page.get_by_role("region", name="MLOps sidebar")
    expect_visible(sidebar)
    sidebar_width(page, 520)

    # the empty store tells a newcomer what to type
    empty = sidebar.get_by_role("note", name="No runs yet")
    expect_visible(empty)
    assert "%load_ext jupyter_mlops" in empty.inner_text()
    page.evaluate("window.__mlopsNoReload = true")
    page.locator(".jp-Notebook").get_by_role("textbox").first.wait_for(timeout=SLOW)
    wait_for_kernel_idle(page)

    # When every cell runs (Run > Run All Cells)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    # (its label is "Run All Cells" or "Run All", depending on the selection)
    page.get_by_role("menuitem", name=re.compile(r"^Run All( Cells)?\s*$")).click()

    # Then the runs appear in the sidebar while the notebook runs, without a reload
    runs = sidebar.get_by_role("table", name="Runs")
    for name in ("Run prep, finished", "Run train, finished", "Run broken, failed"):
        runs.get_by_role("row", name=name).wait_for(timeout=SLOW)
    assert page.evaluate("window.__mlopsNoReload") is True
    failed = runs.get_by_role("row", name="Run broken, failed")
    assert "jp-mlops-row-failed" in (failed.get_attribute("class") or "")
    wait_for_kernel_idle(page)
    page.screenshot(path=str(screenshots / "light-runs.png"))

    # The summary under a tracked cell opens its run in the sidebar (outputs made in this
    # session are trusted: JupyterLab runs the command without asking)
    page.locator(".jp-Cell").nth(2).get_by_role(
        "button", name="Open in the MLOps sidebar").click()
    expect_visible(sidebar.get_by_role("region", name="Run train"))
    assert page.get_by_role("dialog").count() == 0
    sidebar.get_by_role("button", name="Back to runs").click()

    # The tab strip follows the WAI-ARIA tabs pattern: arrows, Home and End move and activate
    runs_tab = sidebar.get_by_role("tab", name="Runs", exact=True)
    models_tab = sidebar.get_by_role("tab", name="Models", exact=True)
    runs_tab.click()
    page.keyboard.press("ArrowRight")
    expect_selected(models_tab)
    expect_visible(sidebar.get_by_role("note", name="No registered models"))
    for key, tab in (("ArrowRight", runs_tab), ("ArrowLeft", models_tab), ("Home", runs_tab),
                     ("End", models_tab), ("ArrowLeft", runs_tab)):
        page.keyboard.press(key)
        expect_selected(tab)
    # and is one stop in the Tab order, like the rows of the runs table
    page.keyboard.press("Tab")
    expect_focused(sidebar.get_by_role("button", name="Refresh"))
    newest = runs.get_by_role("row", name="Run broken, failed")
    press_tab_until_focused(page, newest)
    page.keyboard.press("Tab")
    assert not page.evaluate("!!document.activeElement.closest('.jp-mlops-runs tbody')")
    page.keyboard.press("Shift+Tab")
    expect_focused(newest)

    # When a run's detail is opened (Down to the next row, Enter)
    train_row = runs.get_by_role("row", name="Run train, finished")
    train_id = (train_row.get_attribute("title") or "").split(" · ")[-1]
    page.keyboard.press("ArrowDown")
    expect_focused(train_row)
    page.keyboard.press("Enter")
    detail = sidebar.get_by_role("region", name="Run train")
    expect_visible(detail)
    metrics = detail.get_by_role("table", name="Metrics")
    assert "train_acc" in metrics.inner_text()
    expect_visible(detail.get_by_role("img", name=re.compile(r"^train_acc history: 3 values")))
    assert "LogisticRegression" in detail.get_by_label("Cell source").inner_text()
    assert "X" in detail.get_by_role("list", name="Inputs").inner_text()

    # its lineage links to the run that made its data: open it, and come back
    detail.get_by_role("button", name="Open run prep").click()
    prep = sidebar.get_by_role("region", name="Run prep")
    expect_visible(prep)
    prep.get_by_role("button", name="Open run train").click()
    expect_visible(detail)
    page.screenshot(path=str(screenshots / "light-detail.png"))

    # "Insert into notebook" adds a cell with the run's source below the active cell
    cells = page.locator(".jp-Notebook .jp-Cell")
    before = cells.count()
    active = page.evaluate(
        "[...document.querySelectorAll('.jp-Notebook .jp-Cell')]"
        ".findIndex(c => c.classList.contains('jp-mod-active'))")
    detail.get_by_role("button", name="Insert into notebook").click()
    expect_text(detail.get_by_role("status"), "Inserted a cell below the active cell")
    assert cells.count() == before + 1
    inserted = cells.nth(active + 1).get_by_role("textbox").inner_text()
    assert TRAIN_SOURCE_LINE in inserted
    # a cell that runs again as a tracked run: the %%track line, then the source
    assert inserted.startswith("%%track train -e ui\n")
    detail.get_by_role("button", name="Copy", exact=True).click()
    expect_text(detail.get_by_role("status"), "Copied")

    # When the run is promoted from the UI: a refused gate shows the server's reason
    detail.get_by_role("button", name="Promote…").click()
    dialog = page.get_by_role("dialog", name="Promote the model of run train")
    expect_visible(dialog)
    dialog.get_by_role("combobox", name="Registered model").fill("ui-model")
    dialog.get_by_role("textbox", name="Gate", exact=True).fill("acc>=1.01")
    dialog.get_by_role("button", name="Promote").click()
    # shown as the gate's conditions (the run's value beside the threshold), not a raw string
    refusal = dialog.get_by_role("alert")
    expect_text(refusal, "The gate refused this promotion: nothing was registered.")
    conditions = dialog.get_by_role("group", name="Gate refusal").inner_text()
    assert "✕ acc >= 1.01" in conditions and "threshold 1.01" in conditions
    assert train_id not in dialog.inner_text()
    # the focus stayed in the dialog

    # and a passing gate registers the version, with its gate result
    assert page.evaluate("!!document.activeElement.closest('[role=dialog]')")
    # and Escape closes it; opened again, it offers no name (the run was never registered)
    page.keyboard.press("Escape")
    from playwright.sync_api import expect

    expect(dialog).to_have_count(0)
    detail.get_by_role("button", name="Promote…").click()
    expect(dialog.get_by_role("combobox", name="Registered model")).to_have_value("")
    dialog.get_by_role("combobox", name="Registered model").fill("ui-model")
    dialog.get_by_role("textbox", name="Gate", exact=True).fill("acc>=0.8")
    dialog.get_by_role("textbox", name="Reason", exact=True).fill("first model from the UI test")
    dialog.get_by_role("button", name="Promote").click()
    done = dialog.get_by_role("status")
    expect_text(done, "Registered ui-model version 1")
    assert "passed" in dialog.get_by_label("Gate result").inner_text()
    page.screenshot(path=str(screenshots / "light-promote.png"))

    # Then it is in the Models view, in staging
    dialog.get_by_role("button", name="Show in Models").click()
    models = sidebar.get_by_role("tabpanel")
    version = models.get_by_role("row", name="ui-model version 1")
    expect_visible(version)
    assert "staging" in version.inner_text()

    # and a transition moves it to production, through the gate it was promoted with
    version.get_by_role("button", name="Transition ui-model version 1").click()
    moving = page.get_by_role("dialog", name="Transition ui-model version 1")
    moving.get_by_role("combobox", name="Stage or alias").fill("production")
    moving.get_by_role("textbox", name="Reason", exact=True).fill("checked by hand")
    moving.get_by_role("checkbox", name="Verify the bundle in a fresh virtualenv").uncheck()
    moving.get_by_role("button", name="Transition").click()
    expect_text(moving.get_by_role("status"), "Moved ui-model version 1")
    assert "acc>=0.8" in moving.get_by_label("Gate result").inner_text()
    moving.get_by_role("button", name="Close").click()
    expect_text(version, "production")

    # The versions name their run (its id in the tooltip); Up/Down move between them and
    # Enter opens the run
    run_link = version.get_by_role("button", name="Open run train")
    assert run_link.inner_text() == "train" and run_link.get_attribute("title") == train_id
    added = post(lab, "models/ui-model/versions", {"run_id": train_id, "verify": False})
    assert added["version"] == 2 and added["run_name"] == "train"
    second = models.get_by_role("row", name="ui-model version 2")
    expect_visible(second)  # the sidebar's poll saw the new version
    page.screenshot(path=str(screenshots / "light-models.png"))
    models_tab.click()
    press_tab_until_focused(page, second)
    page.keyboard.press("ArrowDown")
    expect_focused(version)
    page.keyboard.press("ArrowUp")
    expect_focused(second)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect_visible(detail)
    assert runs_tab.get_attribute("aria-selected") == "true"
    models_tab.click()

    # The same in the dark theme (Settings > Theme > JupyterLab Dark)
    page.get_by_role("menuitem", name="Settings", exact=True).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Theme\s*$")).click()  # a submenu
    page.get_by_role("menuitem", name="JupyterLab Dark", exact=True).click()
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=SLOW)
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshots / "dark-models.png"))
    sidebar.get_by_role("tab", name="Runs", exact=True).click()
    expect_visible(detail)  # the Runs view kept the open run
    page.screenshot(path=str(screenshots / "dark-detail.png"))
    detail.get_by_role("button", name="Back to runs").click()
    expect_visible(sidebar.get_by_role("table", name="Runs"))
    page.screenshot(path=str(screenshots / "dark-runs.png"))

    # a failed run's detail shows its error
    sidebar.get_by_role("table", name="Runs").get_by_role("row", name="Run broken, failed").click()
    failure = sidebar.get_by_role("region", name="Run broken").get_by_role("region", name="Error")
    expect_text(failure, "ValueError: boom")
    page.screenshot(path=str(screenshots / "dark-failed.png"))

    # the README's picture: the light run detail next to the notebook
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(screenshots / "light-detail.png", DOCS_SCREENSHOT)


def post(lab: Any, path: str, body: dict[str, Any]) -> Any:
    """A POST to the REST API, authenticated by the server's token."""
    request = urllib.request.Request(
        f"{lab.url}jupyter-mlops/api/{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def press_tab_until_focused(page: Any, locator: Any, limit: int = 20) -> None:
    """Press Tab, as a keyboard user would, until ``locator`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"{limit} Tab presses never focused {locator}")


def expect_focused(locator: Any) -> None:
    from playwright.sync_api import expect

    expect(locator).to_be_focused()


def expect_selected(tab: Any) -> None:
    """The tab has the focus, is selected, and is its tab strip's stop in the Tab order."""
    from playwright.sync_api import expect

    expect(tab).to_be_focused()
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(tab).to_have_attribute("tabindex", "0")


def expect_visible(locator: Any, timeout: int = 30_000) -> None:
    locator.wait_for(state="visible", timeout=timeout)


def expect_text(locator: Any, text: str, timeout: int = 30_000) -> None:
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=timeout)


def wait_for_kernel_idle(page: Any) -> None:
    """The status bar says the notebook's kernel is connected and idle.

    (The notebook toolbar's execution indicator says "idle" before the kernel is connected;
    cells run then are silently skipped by JupyterLab.)
    """
    page.get_by_text(re.compile(r"^Python 3 \(ipykernel\) \| Idle$")).wait_for(timeout=SLOW)
