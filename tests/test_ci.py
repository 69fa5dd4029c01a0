"""``jupyter-mlops ci``: notebooks re-executed headless against a copy of the store, each
tracked cell's run checked against its baseline; seeded breakages each fail their check."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
import yaml

from jupyter_mlops import open_store
from jupyter_mlops.ci import CIConfig, load_config, run_ci, write_workflow
from jupyter_mlops.ci.config import CIConfigError
from jupyter_mlops.ci.execute import execute_notebook

SETUP = """\
%load_ext jupyter_mlops
import numpy as np, pandas as pd
import jupyter_mlops as mlops
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import RandomForestClassifier
rng = np.random.default_rng(0)
n = 300
table = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                      "color": rng.choice(["red", "blue"], n)})
y = (table.x + table.z > 0).astype(int)
renamed, unseen, shifted = table.copy(), table.copy(), table.copy()
"""
BREAK = """
renamed = renamed.rename(columns={"z": "zz"})
unseen.loc[:20, "color"] = "green"
shifted["x"] = shifted["x"] + 3
"""
CELLS = {
    "setup": SETUP,
    "renamed": "%%track renamed\nsummary_a = renamed.describe()",
    "unseen": "%%track unseen\nsummary_b = unseen.describe()",
    "shifted": "%%track shifted\nsummary_c = shifted.describe()",
    "model": "%%track model\nmodel = LogisticRegression(C={C}).fit(table[['x', 'z']], y)\n"
             "mlops.log_metric('accuracy', model.score(table[['x', 'z']], y))",
    "unseeded": "%%track unseeded\nsample = table.sample(frac=0.5)\n"
                "mlops.log_metric('mean_x', float(sample.x.mean()))",
    "last": "{last}",
}
MISSING = {
    "setup": "%load_ext jupyter_mlops\nimport pandas as pd\nframe = pd.DataFrame({'a': [1, 2, 3]})",
    "kept": "%%track kept\ntotal = frame.sum()",
    "dropped": "%%track dropped\nlargest = frame.max()",
}


def write_notebook(path: Path, cells: dict[str, str]) -> Path:
    """A notebook whose cells have stable ids (the keys), as a CI checkout has them."""
    notebook = nbformat.v4.new_notebook()
    for key, source in cells.items():
        cell = nbformat.v4.new_code_cell(source)
        cell["id"] = key
        notebook.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The team's store after one interactive pass over both notebooks, and the store dir."""
    root = tmp_path_factory.mktemp("team")
    store = root / "store"
    patch = pytest.MonkeyPatch()
    patch.setenv("JUPYTER_MLOPS_STORE", str(store))
    try:
        cells = {**CELLS, "model": CELLS["model"].format(C=1.0),
                 "last": CELLS["last"].format(last="print('done')")}
        execute_notebook(write_notebook(root / "work" / "breakages.ipynb", cells))
        execute_notebook(write_notebook(root / "work" / "missing.ipynb", MISSING))
    finally:
        patch.undo()
    return root, store


@pytest.fixture(scope="module")
def broken(team: tuple[Path, Path]):
    """A CI pass over the notebooks with a breakage seeded in each cell."""
    root, store = team
    checkout = root / "checkout"
    cells = {**CELLS, "setup": SETUP + BREAK, "model": CELLS["model"].format(C=0.0001),
             "last": CELLS["last"].format(last="raise ValueError('seeded breakage')")}
    write_notebook(checkout / "breakages.ipynb", cells)
    write_notebook(checkout / "missing.ipynb", {k: v for k, v in MISSING.items()
                                                if k != "dropped"})
    with open_store(store) as opened:
        runs_before = opened.count_runs()
    result = run_ci(CIConfig(notebooks=["."], store=str(store)), root=checkout)
    with open_store(store) as opened:
        assert opened.count_runs() == runs_before, "CI left the team's store untouched"
    return result


def outcome(result, name: str, cell: str) -> tuple[str, str]:
    found = [c for c in result.checks if c.name == name and cell in c.subject]
    assert len(found) == 1, [(c.name, c.subject) for c in result.checks]
    return found[0].status, found[0].message


@pytest.mark.parametrize(("check", "cell", "says"), [
    ("schema", "renamed", "renamed: column(s) z missing; renamed: new column(s) zz"),
    ("schema", "unseen", "unseen category 'green'"),
    ("drift", "shifted", "drifted: shifted.x"),
    ("ranges", "shifted", "x spans"),
    ("metrics", "model", "accuracy"),
    ("reproducibility", "unseeded", "different metrics"),
    ("execution", "breakages.ipynb", "raised ValueError: seeded breakage"),
    ("recorded cells", "missing.ipynb", "missing.ipynb cell dropped"),
])
def test_a_seeded_breakage_fails_its_check(broken, check: str, cell: str, says: str) -> None:
    status, message = outcome(broken, check, cell)
    assert status == "failed" and says in message, message


def test_what_did_not_break_passes(broken) -> None:
    assert outcome(broken, "schema", "shifted")[0] == "passed"
    assert outcome(broken, "drift", "unseeded")[0] == "passed"
    assert outcome(broken, "bundle", "model")[0] == "passed"
    assert outcome(broken, "reproducibility", "model")[0] == "skipped"  # the code changed
    assert not broken.passed


