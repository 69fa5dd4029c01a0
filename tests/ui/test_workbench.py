"""The sidebar as a workbench, in a real JupyterLab and a real Chromium: runs compared in the
main area (differing params highlighted, curves drawn by JupyterLab's plotly renderer), the
comparison restored after a reload, deep links to a run, and an axe-core scan of the sidebar
and the comparison in the light and dark themes.

The runs are written straight into the store (no kernel needed). Screenshots go to
``tests/ui/screenshots/``; with ``UPDATE_DOCS_SCREENSHOT=1`` the comparison is also copied to
``docs/comparison.png`` (and the dark one to ``docs/comparison-dark.png``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from recorded import record_run

from jupyter_mlops import open_store

pytestmark = pytest.mark.filterwarnings(
    "ignore:coroutine 'ServerApp._cleanup' was never awaited:RuntimeWarning")

AXE = Path(__file__).parents[2] / "labextension" / "node_modules" / "axe-core" / "axe.min.js"
DOCS = Path(__file__).parents[2] / "docs"
SLOW = 120_000
ALPHAS = (10.0, 100.0, 1000.0)


@pytest.fixture(scope="module")
def runs(lab: Any) -> dict[str, str]:
    """Three wine runs that differ in alpha only, with 5-step loss curves, a failed wine
    run, 25 older heart runs (auc) and still older diabetes runs whose only metric is rmse
    (none of them on the first page)."""
    ids: dict[str, str] = {}
    with open_store(lab.store) as store:
        for i in range(30):
            record_run(store, f"diabetes-ridge-{i}", experiment="diabetes",
                       params={"alpha": float(i)}, metrics={"rmse": 50.0 + i},
                       started_at=1_000_000.0 + i)
        for i in range(25):  # newer: the first page holds no diabetes run
            record_run(store, f"heart-gb-{i}", experiment="heart", params={"depth": i},
                       metrics={"auc": 0.5 + i / 100}, started_at=2_000_000.0 + i)
        for i, alpha in enumerate(ALPHAS):
            name = f"wine-lr-alpha{alpha}"
            ids[name] = record_run(
                store, name, experiment="wine", params={"alpha": alpha, "solver": "lbfgs"},
                metrics={"accuracy": 0.9 - i / 10},
                curves={"loss": [1.0 / (step + 1 + i) for step in range(5)]})
        record_run(store, "wine-broken", experiment="wine", status="failed",
                   params={"alpha": -1.0})
        for name in (f"wine-lr-alpha{ALPHAS[0]}", f"wine-lr-alpha{ALPHAS[2]}"):
            store.set_tag(ids[name], "owner", "alice")
    return ids


@pytest.fixture
def page(lab: Any, runs: dict[str, str], watched_page: Any) -> Iterator[Any]:
    with watched_page("workbench", width=1400, height=900,
                      clipboard=True) as opened:
        yield opened


def open_sidebar(page: Any, lab: Any) -> Any:
    page.goto(lab.lab_url("lab"))
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=SLOW)
    tab = page.get_by_role("tab", name="MLOps", exact=True)
    tab.wait_for()
    page.wait_for_timeout(500)  # the restored layout settles
    if tab.get_attribute("aria-selected") != "true":
        tab.click()
    sidebar = page.get_by_role("region", name="MLOps sidebar")
    sidebar.wait_for(state="visible")
    return sidebar


def axe_violations(page: Any, selector: str) -> list[str]:
    """Serious and critical axe-core violations inside the visible ``selector``."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run jlpm install in labextension/")
    if not page.evaluate("!!window.axe"):
        page.add_script_tag(path=str(AXE))
    checked, results = page.evaluate(
        "async selector => { const r = await axe.run([...document.querySelectorAll(selector)]"
        ".find(e => e.offsetParent !== null)); "
        "return [r.passes.length, r.violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`)"
        "]; }", selector)
    assert checked > 10, f"axe-core checked only {checked} rules in {selector}"
    return list(results)


# The contrast of an element's text over what is behind it (backgrounds composited over the
# page), with colours resolved by a canvas so color-mix() and rgba() both work.
CONTRAST_JS = """element => {
  const ctx = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const rgba = css => {
    ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000'; ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1); const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, under) => top.slice(0, 3).map((c, i) => c * top[3] + under[i] * (1 - top[3]));
  const layers = [];
  for (let e = element; e; e = e.parentElement) {
    const bg = getComputedStyle(e).backgroundColor;
    if (bg && bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') layers.push(rgba(bg));
  }
  let back = [255, 255, 255];
  for (const layer of layers.reverse()) back = over(layer, back);
  const fore = over(rgba(getComputedStyle(element).color), back);
  const lum = rgb => { const [r, g, b] = rgb.map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [a, b] = [lum(fore), lum(back)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def set_theme(page: Any, name: str) -> None:
    light = "true" if "Light" in name else "false"
    if page.evaluate("document.body.dataset.jpThemeLight") == light:
        return
    page.get_by_role("menuitem", name="Settings", exact=True).click()
    page.locator(".lm-Menu-item", has_text=re.compile(r"^Theme\s*$")).click()
    page.get_by_role("menuitem", name=name, exact=True).click()
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{light}'", timeout=SLOW)
    page.wait_for_timeout(300)


def test_three_runs_are_compared_in_the_main_area_and_a_reload_restores_it(
    page: Any, lab: Any, runs: dict[str, str], screenshots: Path
) -> None:
    from playwright.sync_api import expect

    # Given the runs table
    sidebar = open_sidebar(page, lab)
    table = sidebar.get_by_role("table", name="Runs")
    first, middle, last = (f"wine-lr-alpha{a}" for a in ALPHAS)
    table.get_by_role("row", name=f"Run {first}, finished").wait_for()

    # When three runs are ticked: one click, then a shift-click for the range
    table.get_by_role("checkbox", name=f"Select {last} to compare").click()
    table.get_by_role("checkbox", name=f"Select {first} to compare").click(modifiers=["Shift"])
    for name in (first, middle, last):
        expect(table.get_by_role("checkbox", name=f"Select {name} to compare")).to_be_checked()
    expect(sidebar.get_by_role("region", name=re.compile(r"^Run "))).to_have_count(0)
    sidebar.get_by_role("button", name="Compare 3").click()

    # Then a main-area tab compares them
    comparison = page.get_by_role("region", name="Comparison of 3 runs")
    expect(comparison).to_be_visible(timeout=SLOW)
    assert page.locator("#jp-main-dock-panel").get_by_role("region",
                                                          name="Comparison of 3 runs").count()
    params = comparison.get_by_role("table", name="Params")
    alpha = params.get_by_role("row", name="alpha, differs")
    expect(alpha).to_have_class(re.compile("jp-mod-differs"))
    expect(alpha).to_contain_text("1000")
    # the identical solver is folded away until asked for
    expect(params.get_by_role("row", name=re.compile(r"^solver"))).to_have_count(0)
    comparison.get_by_role("button", name="Show 1 identical one").click()
    expect(params.get_by_role("row", name="solver, same in every run")).to_be_visible()

    # three loss curves, drawn by JupyterLab's plotly renderer, with hover values
    curves = comparison.get_by_role("figure", name="loss over steps")
    expect(curves.locator(".js-plotly-plot .scatterlayer .trace")).to_have_count(3,
                                                                                timeout=SLOW)
    curves.locator(".js-plotly-plot .nsewdrag").first.hover()
    parallel = comparison.get_by_role("figure", name=re.compile("against accuracy"))
    expect(parallel.locator(".js-plotly-plot .parcoords")).to_have_count(1)
    page.screenshot(path=str(screenshots / "light-comparison.png"))
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copyfile(screenshots / "light-comparison.png", DOCS / "comparison.png")

    # Then a reload restores the comparison of the same runs (kept in the workspace)
    page.reload()
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=SLOW)
    comparison = page.get_by_role("region", name="Comparison of 3 runs")
    expect(comparison).to_be_visible(timeout=SLOW)
    expect(comparison.get_by_role("list", name="Compared runs")).to_contain_text(middle)

    # a compared run opens in the sidebar (the jupyter-mlops:open-run command)
    comparison.get_by_role("button", name=middle, exact=True).click()
    sidebar = page.get_by_role("region", name="MLOps sidebar")
    detail = sidebar.get_by_role("region", name=f"Run {middle}")
    expect(detail).to_be_visible(timeout=SLOW)
    # and its full id is one click from the clipboard
    detail.get_by_role("button", name="Copy the full run id").click()
    expect(detail.get_by_role("status")).to_contain_text(runs[middle])
    assert page.evaluate("navigator.clipboard.readText()") == runs[middle]


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_no_serious_accessibility_violations(
    page: Any, lab: Any, runs: dict[str, str], screenshots: Path, theme: str
) -> None:
    from playwright.sync_api import expect

    sidebar = open_sidebar(page, lab)
    set_theme(page, theme)
    table = sidebar.get_by_role("table", name="Runs")
    table.get_by_role("row", name=re.compile(r"^Run wine-lr")).first.wait_for()
    # WCAG AA (4.5:1) for status text and a failed run's name, which axe cannot judge over
    # the rows' tinted backgrounds
    failed = table.get_by_role("row", name="Run wine-broken, failed")
    samples = {"finished status": table.locator(".jp-mlops-status.jp-mlops-status-finished").first,
               "failed status": failed.locator(".jp-mlops-status.jp-mlops-status-failed"),
               "failed name": failed.locator(".jp-mlops-run-name")}
    drag_sidebar(page, 560 - sidebar.evaluate("e => e.getBoundingClientRect().width"))
    for what, element in samples.items():
        ratio = element.evaluate(CONTRAST_JS)
        assert ratio >= 4.5, f"{what} in {theme}: contrast {ratio:.2f} < 4.5"
    table.get_by_role("checkbox", name="Select all runs on this page").click()
    assert axe_violations(page, ".jp-mlops-sidebar") == []
    sidebar.get_by_role("button", name=re.compile(r"^Compare \d+$")).click()
    comparison = page.get_by_role("region", name=re.compile(r"^Comparison of \d+ runs$"))
    expect(comparison).to_be_visible(timeout=SLOW)
    expect(comparison.locator(".js-plotly-plot").first).to_be_visible(timeout=SLOW)
    # the figures follow the theme (plotly's dark template on a dark page)
    font = comparison.locator(".js-plotly-plot .gtitle").first.evaluate(
        "e => getComputedStyle(e).fill")
    assert (font == "rgb(242, 245, 250)") == ("Dark" in theme), font
    assert axe_violations(page, ".jp-mlops-compare") == []
    shot = screenshots / f"{theme.split()[-1].lower()}-comparison-all.png"
    page.screenshot(path=str(shot))
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") and "Dark" in theme:
        shutil.copyfile(shot, DOCS / "comparison-dark.png")


def test_columns_come_from_every_filtered_run_and_names_stay_readable(
    page: Any, lab: Any, runs: dict[str, str], screenshots: Path
) -> None:
    from playwright.sync_api import expect

    sidebar = open_sidebar(page, lab)
    table = sidebar.get_by_role("table", name="Runs")
    table.get_by_role("row", name=re.compile(r"^Run wine-lr")).first.wait_for()
    assert "diabetes" not in table.inner_text()
    drag_sidebar(page, 560 - sidebar.evaluate("e => e.getBoundingClientRect().width"))
    # the default column is a metric the runs have, its header whole
    expect(table.get_by_role("columnheader", name="accuracy")).to_be_visible()

    # When rmse (logged only by runs on later pages) and the param alpha are added
    sidebar.get_by_label("Choose columns").click()
    columns = sidebar.get_by_role("group", name="Columns")
    columns.get_by_role("checkbox", name="rmse").check()
    columns.get_by_role("checkbox", name="alpha").check()
    sidebar.get_by_label("Choose columns").click()
    for header in ("accuracy", "rmse", "alpha", "Experiment"):
        expect(table.get_by_role("columnheader", name=header)).to_be_visible()
    # Then sorting by rmse brings the diabetes runs with their values
    table.get_by_role("button", name="Sort by rmse").click()
    expect(table.get_by_role("row").nth(1)).to_contain_text("79")
    expect(table.get_by_role("row").nth(1)).to_contain_text("diabetes")
    # the name keeps its room: extra columns scroll sideways rather than squeeze it
    first_name = table.get_by_role("row").nth(1).locator(".jp-mlops-name")
    assert first_name.evaluate("e => e.getBoundingClientRect().width") >= 120
    page.screenshot(path=str(screenshots / "light-columns.png"))
    table.get_by_role("button", name="Sort by Started").click()

    # Names: the full name is the tooltip, and at a narrow width "Started" goes before the
    # name is squeezed; the distinguishing end of a long name stays visible
    sidebar.get_by_label("Choose columns").click()
    for key in ("rmse", "alpha", "accuracy"):
        sidebar.get_by_role("group", name="Columns").get_by_role("checkbox", name=key).uncheck()
    sidebar.get_by_label("Choose columns").click()
    drag_sidebar(page, 300 - sidebar.evaluate("e => e.getBoundingClientRect().width"))
    name = f"wine-lr-alpha{ALPHAS[1]}"
    cell = table.get_by_role("row", name=f"Run {name}, finished").locator(".jp-mlops-name")
    expect(cell).to_have_attribute("title", name)
    expect(table.get_by_role("columnheader", name="Started")).to_be_hidden()
    expect(cell.locator(".jp-mlops-run-name-tail")).to_have_text("alpha100.0")
    tail = cell.locator(".jp-mlops-run-name-tail").evaluate(
        "e => e.getBoundingClientRect().right <= e.closest('td').getBoundingClientRect().right")
    assert tail, "the end of the name is cut off"
    page.screenshot(path=str(screenshots / "light-narrow.png"))
    # the detail heading wraps the whole name
    table.get_by_role("row", name=f"Run {name}, finished").click()
    heading = sidebar.get_by_role("heading", name=name)
    expect(heading).to_have_attribute("title", name)
    assert heading.evaluate("e => e.scrollWidth <= e.clientWidth")
    # Escape leaves the detail, and the focus is back on the run's row
    page.keyboard.press("Escape")
    expect(heading).to_have_count(0)
    expect(table.get_by_role("row", name=f"Run {name}, finished")).to_be_focused()
    # "‹ Runs" does the same
    page.keyboard.press("Enter")
    sidebar.get_by_role("button", name="Back to runs").click()
    expect(table.get_by_role("row", name=f"Run {name}, finished")).to_be_focused()


def test_a_tag_is_shown_and_finds_the_runs_that_carry_it(
    page: Any, lab: Any, runs: dict[str, str]
) -> None:
    from playwright.sync_api import expect

    sidebar = open_sidebar(page, lab)
    table = sidebar.get_by_role("table", name="Runs")
    name = f"wine-lr-alpha{ALPHAS[0]}"
    table.get_by_role("row", name=f"Run {name}, finished").click()
    detail = sidebar.get_by_role("region", name=f"Run {name}")
    detail.get_by_role("list", name="Tags").get_by_role("button", name="owner=alice").click()
    expect(sidebar.get_by_role("searchbox", name="Search runs")).to_have_value("owner:alice")
    expect(table.get_by_role("row", name=re.compile(r"^Run "))).to_have_count(2)
    for alpha in (ALPHAS[0], ALPHAS[2]):
        expect(table.get_by_role("row", name=f"Run wine-lr-alpha{alpha}, finished")).to_be_visible()


def test_a_run_is_tagged_found_noted_archived_and_restored_from_its_detail(
    page: Any, lab: Any, runs: dict[str, str], screenshots: Path
) -> None:
    from playwright.sync_api import expect

    sidebar = open_sidebar(page, lab)
    table = sidebar.get_by_role("table", name="Runs")
    name = f"wine-lr-alpha{ALPHAS[1]}"
    row = table.get_by_role("row", name=f"Run {name}, finished")
    row.click()
    detail = sidebar.get_by_role("region", name=f"Run {name}")
    # Given a new tag typed into the detail, it is saved and finds the run
    detail.get_by_role("textbox", name="New tag (key=value)").fill("reviewer=bob")
    detail.get_by_role("button", name="Add tag").click()
    tags = detail.get_by_role("list", name="Tags")
    expect(tags.get_by_role("button", name="reviewer=bob")).to_be_visible()
    detail.get_by_role("textbox", name="Run note").fill("alpha 100 underfits")
    detail.get_by_role("button", name="Save note").click()
    expect(detail.get_by_role("button", name="Save note")).to_be_disabled()
    page.screenshot(path=str(screenshots / "tidy-detail.png"))
    tags.get_by_role("button", name="reviewer=bob").click()
    expect(sidebar.get_by_role("searchbox", name="Search runs")).to_have_value("reviewer:bob")
    expect(table.get_by_role("row", name=re.compile(r"^Run "))).to_have_count(1)
    # When it is removed, the run no longer carries it
    row.click()
    detail.get_by_role("button", name="Remove tag reviewer").click()
    expect(detail.get_by_text("No tags.")).to_be_visible()
    # When it is archived, the list hides it until "Show archived" is ticked
    detail.get_by_role("button", name="Archive").click()
    expect(detail.get_by_text("archived", exact=True)).to_be_visible()
    detail.get_by_role("button", name="Back to runs").click()
    sidebar.get_by_role("searchbox", name="Search runs").fill("wine-lr")
    expect(table.get_by_role("row", name=re.compile(r"^Run wine-lr-"))).to_have_count(2)
    expect(row).to_have_count(0)
    show = sidebar.get_by_role("checkbox", name=re.compile(r"^Show archived"))
    show.check()
    archived = table.get_by_role("row", name=f"Run {name}, finished, archived")
    expect(archived).to_be_visible()
    page.screenshot(path=str(screenshots / "tidy-archived.png"))
    archived.click()
    detail.get_by_role("button", name="Restore").click()
    detail.get_by_role("button", name="Back to runs").click()
    show.uncheck()
    expect(row).to_be_visible()
    # Then every change is in the audit log, and the store holds the note
    with open_store(lab.store) as store:
        actions = [e.action for e in store.events(f"run:{runs[name]}")]
        assert actions == ["restore", "archive", "tag", "note", "tag"]
        assert store.get_run(runs[name]).note == "alpha 100 underfits"


def test_the_track_summary_opens_its_run_through_the_command_linker(
    page: Any, lab: Any, runs: dict[str, str]
) -> None:
    """A saved notebook's summary output (not trusted: JupyterLab sanitizes it and asks
    before running a command) keeps its command link, which opens the run in the sidebar."""
    import nbformat
    from playwright.sync_api import expect

    from jupyter_mlops.magics.summary import summary_bundle

    name = f"wine-lr-alpha{ALPHAS[2]}"
    line = f"run {runs[name][:10]}… {name} · finished 0.50 s · params 2 · metrics 2"
    cell = nbformat.v4.new_code_cell(f"%%track {name} -e wine\n...", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("display_data",
                                           data=summary_bundle(line, runs[name]))]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), lab.root / "summary.ipynb")
    page.goto(lab.lab_url("lab/tree/summary.ipynb"))
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=SLOW)
    output = page.locator(".jp-OutputArea-output")
    expect(output.get_by_text(line)).to_be_visible(timeout=SLOW)
    output.get_by_role("button", name="Open in the MLOps sidebar").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Run Command?")
    dialog.get_by_role("button", name=re.compile(r"^Run( Once)?$")).click()
    sidebar = page.get_by_role("region", name="MLOps sidebar")
    expect(sidebar.get_by_role("region", name=f"Run {name}")).to_be_visible()


def drag_sidebar(page: Any, delta: float) -> None:
    """Drag the left panel's splitter by ``delta`` pixels, as a user would."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + delta, y, steps=5)
    page.mouse.up()
