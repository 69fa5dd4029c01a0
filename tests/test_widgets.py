"""RunBrowser: filters narrow the table, selection draws the chart, new runs show up."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Shell
from recorded import record_run
from traitlets import TraitError

from jupyter_mlops import Store, charts, open_store
from jupyter_mlops.widgets import RunBrowser

PLOTLY = "application/vnd.plotly.v1+json"


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def plotted(browser: RunBrowser) -> dict[str, object]:
    (output,) = browser.chart.outputs
    return output["data"][PLOTLY]  # type: ignore[no-any-return]


@pytest.fixture
def three(store: Store) -> dict[str, str]:
    """Three runs in two experiments, oldest first: a, b (fraud) and c (churn, failed)."""
    now = time.time()
    return {
        "a": record_run(store, "lr-small", experiment="fraud", started_at=now - 30,
                        params={"C": 0.1, "solver": "lbfgs"}, metrics={"acc": 0.8, "f1": 0.7}),
        "b": record_run(store, "lr-big", experiment="fraud", started_at=now - 20,
                        params={"C": 10.0, "solver": "saga"}, metrics={"acc": 0.9, "f1": 0.6}),
        "c": record_run(store, "forest", experiment="churn", started_at=now - 10,
                        status="failed", params={"n_estimators": 100}, metrics={"acc": 0.7}),
    }


def test_selecting_runs_draws_their_comparison(store: Store, three: dict[str, str]) -> None:
    browser = RunBrowser(store=store)
    a, b = three["a"], three["b"]
    assert browser.run_ids == [three["c"], b, a]
    assert browser.chart.outputs == () and "Select runs" in browser.message.value

    browser.selected_run_ids = [a, b]

    assert browser.table.value == (a, b)
    assert plotted(browser) == json.loads(charts.compare_runs(store, [a, b]).to_json())
    assert "2 selected" in browser.message.value
    browser.table.value = (b,)  # what a click in the table does
    assert browser.selected_run_ids == [b]
    assert [trace["x"] for trace in plotted(browser)["data"]] == [[f"lr-big · {b[:10]}"]] * 2
    browser.selected_run_ids = []
    assert browser.chart.outputs == () and browser.table.value == ()
    json.dumps(browser.get_state())  # all synced state is plain JSON


def test_selection_accepts_prefixes_and_names_and_rejects_others(
    store: Store, three: dict[str, str]
) -> None:
    solo = record_run(store, "solo", run_id="01J1111111ZZZZZZZZZZZZZZZZ", started_at=1.0)
    browser = RunBrowser(store=store)
    browser.selected_run_ids = ["01J1111111Z", "lr-big", solo]
    assert browser.selected_run_ids == [solo, three["b"]]
    with pytest.raises(TraitError, match="no run 'nope'"):
        browser.selected_run_ids = ["nope"]
    browser.experiment = "churn"
    with pytest.raises(TraitError, match="not in the table"):
        browser.selected_run_ids = [three["a"]]


def test_chart_explains_when_runs_have_nothing_to_compare(store: Store) -> None:
    bare = record_run(store, "bare")
    browser = RunBrowser(store=store)
    browser.selected_run_ids = [bare]
    assert browser.chart.outputs == () and "logged no metrics" in browser.message.value


def test_filters_narrow_the_table(store: Store, three: dict[str, str]) -> None:
    browser = RunBrowser(store=store)
    browser.selected_run_ids = [three["a"], three["c"]]

    browser.filter_box.value = "saga"  # a parameter value
    assert browser.filter_text == "saga" and browser.run_ids == [three["b"]]
    assert browser.selected_run_ids == [] and browser.table.value == ()
    browser.filter_text = "LR-"  # names, case-insensitive
    assert browser.run_ids == [three["b"], three["a"]]
    assert browser.filter_box.value == "LR-"
    browser.filter_text = three["c"].lower()  # a run id, or its start
    assert browser.run_ids == [three["c"]]
    browser.filter_text = "100%"  # LIKE wildcards are literal
    assert browser.run_ids == []
    browser.filter_text = ""

    browser.status_menu.value = "failed"
    assert browser.status == "failed" and browser.run_ids == [three["c"]]
    browser.status = None
    assert browser.status_menu.value == ""
    browser.experiment_menu.value = "fraud"
    assert browser.experiment == "fraud" and browser.run_ids == [three["b"], three["a"]]
    assert [label for label, _ in browser.experiment_menu.options] == ["all", "fraud", "churn"]
    with pytest.raises(TraitError, match="unknown status 'done'"):
        browser.status = "done"


def test_sorting_by_metrics_and_duration(store: Store, three: dict[str, str]) -> None:
    browser = RunBrowser(store=store, sort="metrics.f1")
    a, b, c = three["a"], three["b"], three["c"]
    assert browser.run_ids == [a, b, c]  # f1 descending, runs without f1 last
    assert set(browser.sort_menu.options) == {
        "started_at", "duration_s", "name", "metrics.acc", "metrics.f1"}
    assert "f1" in browser.header.value and "acc" in browser.header.value
    browser.descending_box.value = False
    assert browser.descending is False and browser.run_ids == [b, a, c]
    browser.sort_menu.value = "name"
    assert browser.run_ids == [c, b, a]
    browser.sort = "duration_s"
    assert browser.sort_menu.value == "duration_s" and len(browser.run_ids) == 3
    with pytest.raises(TraitError, match="cannot sort runs by 'colour'"):
        browser.sort = "colour"


def test_limit_bounds_the_table(store: Store, three: dict[str, str]) -> None:
    browser = RunBrowser(store=store, limit=2)
    assert browser.run_ids == [three["c"], three["b"]]
    with pytest.raises(TraitError, match="at least 1"):
        browser.limit = 0
    with pytest.raises(TraitError, match="positive"):
        browser.interval = 0


def test_bad_arguments_are_refused_up_front(store: Store) -> None:
    with pytest.raises(TraitError, match="cannot sort runs by 'colour'"):
        RunBrowser(store=store, sort="colour")
    with pytest.raises(TraitError, match="unknown status 'ok'"):
        RunBrowser(store=store, status="ok")
    not_yet = RunBrowser(store=store, sort="metrics.auc")  # no run logged auc yet: allowed
    assert not_yet.sort_menu.value == "metrics.auc"


def test_refresh_picks_up_runs_added_after_construction(store: Store, store_dir: Path,
                                                        three: dict[str, str]) -> None:
    browser = RunBrowser(store=store)
    browser.selected_run_ids = [three["a"]]
    assert browser.check_for_updates() is False
    with open_store(store_dir) as other:  # another kernel writing to the same store
        new = record_run(other, "late", experiment="fraud", metrics={"acc": 0.95})
    assert new not in browser.run_ids

    assert browser.check_for_updates() is True

    assert browser.run_ids[0] == new and browser.selected_run_ids == [three["a"]]
    assert browser.check_for_updates() is False
    newer = record_run(store, "later")
    browser.refresh_button.click()
    assert browser.run_ids[0] == newer


def test_auto_refresh_polls_until_turned_off(store: Store, store_dir: Path) -> None:
    browser = RunBrowser(store=store, auto_refresh=True, interval=0.05)
    thread = browser._thread
    assert thread is not None and thread.is_alive()
    with open_store(store_dir) as other:
        new = record_run(other, "arrives", metrics={"acc": 0.5})
    assert wait_for(lambda: browser.run_ids == [new])
    browser.auto_refresh = False
    assert not thread.is_alive() and browser._thread is None


def test_auto_refresh_stops_and_says_why_when_the_store_goes_away(store_dir: Path) -> None:
    store = open_store(store_dir)
    browser = RunBrowser(store=store, auto_refresh=True, interval=0.05)
    store.close()
    assert wait_for(lambda: not browser.auto_refresh)
    assert "auto-refresh stopped" in browser.message.value


def test_unknown_experiment_fills_in_when_its_runs_land(store: Store) -> None:
    browser = RunBrowser("future", store=store)
    assert browser.run_ids == [] and browser.experiment_menu.value == "future"
    run_id = record_run(store, "first", experiment="future")
    browser.refresh()
    assert browser.run_ids == [run_id]


def test_close_stops_polling_and_closes_the_store_it_opened(store_dir: Path) -> None:
    browser = RunBrowser(auto_refresh=True, interval=0.05)  # discovers $JUPYTER_MLOPS_STORE
    assert browser.store.directory == store_dir
    browser.close()
    assert not browser.auto_refresh and browser._thread is None
    with pytest.raises(Exception, match="closed"):
        browser.store.count_runs()


def test_run_browser_in_a_notebook_shell(shell: Shell) -> None:
    shell.run("import numpy as np\nfrom sklearn.linear_model import LinearRegression\n"
              "X = np.arange(40.0).reshape(20, 2)\ny = X @ [1.0, 2.0]")
    shell.run("%%track fit -e demo --eval X y\nreg = LinearRegression().fit(X, y)")
    cell = shell.run("from jupyter_mlops.widgets import RunBrowser\n"
                     "browser = RunBrowser('demo')\nbrowser")
    browser = shell.ns["browser"]
    assert cell.result.success and len(browser.run_ids) == 1
    assert repr(browser).startswith("RunBrowser(experiment='demo', 1 runs shown, 0 selected")
    shell.run("%%track refit -e demo\nreg2 = LinearRegression(fit_intercept=False).fit(X, y)")
    assert browser.check_for_updates() is True and len(browser.run_ids) == 2
    browser.selected_run_ids = ["fit", "refit"]
    assert [t["name"] for t in plotted(browser)["data"]] == ["mae", "r2", "rmse"]
    browser.close()
