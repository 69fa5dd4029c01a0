"""The %%track summary offers to open its run in JupyterLab's sidebar (a command link), while
its plain text stays the line it always was."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from conftest import Shell

from jupyter_mlops.magics.summary import OPEN_RUN_COMMAND, summary_bundle

INDEX_TS = Path(__file__).parents[1] / "labextension" / "src" / "index.ts"


class _Buttons(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.buttons: list[dict[str, str | None]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "button":
            self.buttons.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text += data


def parsed(markup: str) -> _Buttons:
    parser = _Buttons()
    parser.feed(markup)
    return parser


def test_the_html_twin_is_the_same_text_and_a_command_link_to_the_run() -> None:
    line = 'run 01J9Y2ABCD… <b>"lr"</b> · finished 0.10 s\n  ⚠ a warning & more'
    bundle = summary_bundle(line, "01J9Y2ABCDEFGHJKMNPQRSTVWX")
    assert bundle["text/plain"] == line
    html = parsed(bundle["text/html"])
    assert html.text.startswith(line)  # escaped, so the name is text, not markup
    [button] = html.buttons
    assert button["data-commandlinker-command"] == OPEN_RUN_COMMAND
    assert json.loads(button["data-commandlinker-args"] or "") == {
        "runId": "01J9Y2ABCDEFGHJKMNPQRSTVWX"}
    assert button["type"] == "button"


def test_the_command_is_the_one_the_sidebar_registers() -> None:
    source = INDEX_TS.read_text()
    declared = re.search(r"const OPEN_RUN_COMMAND = '([^']+)'", source)
    assert declared is not None and declared[1] == OPEN_RUN_COMMAND



def test_a_tracked_cell_shows_the_line_and_offers_the_link(shell: Shell) -> None:
    from IPython.utils.capture import capture_output

    with capture_output() as shown:
        assert shell.ip.run_cell("%%track lr -e demo\nacc = 0.9").success
    run_id = shell.store().runs()["run_id"][0]
    [bundle] = [o.data for o in shown.outputs if "text/html" in o.data]
    line = bundle["text/plain"]
    assert line.startswith(f"run {run_id[:10]}… lr · finished") and "metrics 1" in line
    assert line.endswith(f"charts: %mlops lineage {run_id[:10]}")
    assert shown.stdout == ""  # shown once, as the display, not printed besides
    [button] = parsed(bundle["text/html"]).buttons
    assert json.loads(button["data-commandlinker-args"] or "") == {"runId": run_id}
