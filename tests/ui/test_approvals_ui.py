"""The sidebar's pending approvals in a real JupyterLab and a real Chromium: a move another
user asked for waits in the Models tab, and one click approves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_server import seed
from test_sidebar import SLOW, expect_text, expect_visible, sidebar_width

from jupyter_mlops import open_store
from jupyter_mlops.lifecycle import approvals
from jupyter_mlops.lifecycle.promotion import move_version

pytestmark = pytest.mark.filterwarnings(
    "ignore:coroutine 'ServerApp._cleanup' was never awaited:RuntimeWarning")


@pytest.fixture
def page(lab: Any, watched_page: Any) -> Any:
    with watched_page("approvals", width=1280, height=800) as opened:
        yield opened


def test_a_waiting_move_is_approved_from_the_models_tab(page: Any, lab: Any,
                                                       screenshots: Path) -> None:
    # Given a production policy and a move alice asked for (the browser's user is another)
    seed(lab.store)
    with open_store(lab.store) as store:
        approvals.set_policy("production", store=store, actor="admin")
        move_version("demo-model", 1, "production", "better on May data", verify=False,
                     store=store, actor="alice")
    page.goto(lab.lab_url())
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=SLOW)
    page.get_by_role("tab", name="MLOps", exact=True).click()
    sidebar = page.get_by_role("region", name="MLOps sidebar")
    expect_visible(sidebar)
    sidebar_width(page, 560)
    sidebar.get_by_role("tab", name="Models", exact=True).click()
    # Then the Models tab lists it, with who asked and why
    waiting = sidebar.get_by_role("region", name="Pending approvals")
    request = waiting.get_by_role("listitem", name="Request 1: demo-model/1 to production")
    expect_text(request, "asked by alice")
    expect_text(request, "better on May data")
    page.screenshot(path=str(screenshots / "light-approvals.png"))
    # When the user approves it, the version moves to production
    request.get_by_role("button", name="Approve request 1").click()
    expect_text(sidebar.get_by_role("status", name="Approval outcome"),
                "demo-model/1 moved to production")
    version = sidebar.get_by_role("row", name="demo-model version 1")
    expect_text(version, "production")
    with open_store(lab.store) as store:
        last = store.events("demo-model/1")[0]
        assert last.action == "approval-applied" and last.actor not in ("alice", "admin")
