"""``jupyter-mlops ci``: notebooks re-executed headless against a copy of the store, each
tracked cell's run checked against its baseline; seeded breakages each fail their check."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
import yaml

from jupyter_mlops import open_store
from jupyter_mlops.ci import CIConfig, load_config, run_ci, write_workflow
from jupyter_mlops.ci.config import CIConfigError
from jupyter_mlops.ci.execute import execute_notebook

CHAMPION = "champion(metrics=['log_loss'])"  # at C=0.0001 roc_auc is 1.0: ranks, not fit
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
features = table[["x", "z"]]
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
    "model": "%%track model --eval features y\nmodel = LogisticRegression(C={C}).fit(features, y)\n"
             "mlops.log_metric('accuracy', model.score(features, y))",
    "improved": "%%track improved --eval features y\n"
                "better = LogisticRegression(C={C}).fit(features, y)",
    "unseeded": "%%track unseeded\nsample = table.sample(frac=0.5)\n"
                "mlops.log_metric('mean_x', float(sample.x.mean()))",
    "forest": "%%track forest --eval features y\n"
              "forest = RandomForestClassifier(n_estimators=3).fit(features, y)",
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
                 "improved": CELLS["improved"].format(C=0.0001),
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
             "improved": CELLS["improved"].format(C=1.0),
             "last": CELLS["last"].format(last="raise ValueError('seeded breakage')")}
    write_notebook(checkout / "breakages.ipynb", cells)
    write_notebook(checkout / "missing.ipynb", {k: v for k, v in MISSING.items()
                                                if k != "dropped"})
    with open_store(store) as opened:
        runs_before = opened.count_runs()
    gates = ["accuracy >= 0.9", CHAMPION]
    result = run_ci(CIConfig(notebooks=["."], store=str(store), gates=gates,
                             figures=str(root / "figures")), root=checkout)
    with open_store(store) as opened:
        assert opened.count_runs() == runs_before, "CI left the team's store untouched"
    return result


def outcome(result, name: str, cell: str, says: str = "") -> tuple[str, str]:
    found = [c for c in result.checks
             if c.name == name and cell in c.subject and says in c.message]
    assert len(found) == 1, [(c.name, c.subject) for c in result.checks]
    return found[0].status, found[0].message


@pytest.mark.parametrize(("check", "cell", "says"), [
    ("schema", "renamed", "renamed: column(s) z missing; renamed: new column(s) zz"),
    ("schema", "unseen", "unseen category 'green'"),
    ("drift", "shifted", "drifted: shifted.x"),
    ("ranges", "shifted", "x spans"),
    ("metrics", "model", "accuracy"),
    ("reproducibility", "unseeded", "different metrics"),
    ("reproducibility", "forest", "different predictions on the --eval rows"),
    ("execution", "breakages.ipynb", "raised ValueError: seeded breakage"),
    ("gate", "cell model", "accuracy >= 0.9: 0.51 (FAILED, off by 0.39)"),
    ("gate", "cell model", f"{CHAMPION}: log_loss decided on 300 rows: challenger 0.688145 vs the "
     "baseline"),
    ("recorded cells", "missing.ipynb", "missing.ipynb cell dropped"),
])
def test_a_seeded_breakage_fails_its_check(broken, check: str, cell: str, says: str) -> None:
    status, message = outcome(broken, check, cell, says.split(":")[0])
    assert status == "failed" and says in message, message


def test_what_did_not_break_passes(broken) -> None:
    assert outcome(broken, "schema", "shifted")[0] == "passed"
    assert outcome(broken, "drift", "unseeded")[0] == "passed"
    assert outcome(broken, "bundle", "model")[0] == "passed"
    assert outcome(broken, "reproducibility", "model")[0] == "skipped"  # the code changed
    assert outcome(broken, "gate", "cell unseeded", "accuracy")[0] == "skipped"  # no accuracy
    status, message = outcome(broken, "recorded cells", "breakages.ipynb")
    assert status == "skipped" and "stopped at a raising cell" in message
    status, message = outcome(broken, "gate", "cell model", "champion")
    assert re.search(r"\(worse by 0\.57\d+; lower is better\)$", message), message
    status, message = outcome(broken, "gate", "cell improved", "champion")
    assert status == "passed" and re.search(r"0\.109\d* vs .* 0\.688\d* \(better by 0\.57",
                                            message), message
    assert outcome(broken, "gate", "cell renamed", "champion")[0] == "skipped"  # no model
    assert not broken.passed


def test_against_a_model_version_pairs_the_model_cells_with_its_run(team) -> None:
    from jupyter_mlops.ci.baseline import pair_runs
    from jupyter_mlops.store.registry import register_version

    _, store_dir = team
    with open_store(store_dir) as store:
        runs = store.runs("default").set_index("name")["run_id"]
        model, renamed = runs["model"], runs["renamed"]
        if not store.conn.execute("SELECT 1 FROM model_versions").fetchone():
            register_version(store, name="m", run_id=model, actor="test", label="staging",
                             model_fingerprint=store.get_run(model).models[0].fingerprint,
                             model_variable="model")
        # as if both cells were new: no earlier run of either, but a version of the model
        pairs = pair_runs(store, [model, renamed], before=0.0, against="m@staging")
        assert [p.baseline for p in pairs] == [model, None]
        assert [p.baseline for p in pair_runs(store, [model, renamed], before=time.time())] \
            == [model, renamed]
        with pytest.raises(LookupError, match="no model version 'm@production'"):
            pair_runs(store, [model], before=time.time(), against="m@production")



def test_a_renamed_notebook_keeps_its_baselines(team, tmp_path: Path) -> None:
    from jupyter_mlops.ci.baseline import pair_runs
    from jupyter_mlops.ci.execute import copy_store

    _, store_dir = team
    with open_store(copy_store(store_dir, tmp_path / "store")) as store:
        runs = store.runs("default").set_index("name")
        old, renamed = runs.loc["renamed", "run_id"], runs.loc["kept", "run_id"]
        start = store.get_run(old).started_at
        # the same cell, run again as if its notebook were renamed (and moved)
        store.conn.execute("UPDATE runs SET notebook = '/elsewhere/renamed.ipynb', "
                           "started_at = ? WHERE run_id = ?", [start + 1e6, renamed])
        store.conn.execute("UPDATE runs SET cell_id = 'renamed' WHERE run_id = ?", [renamed])
        [pairing] = pair_runs(store, [renamed], before=start + 1)
        assert pairing.baseline == old and pairing.key.notebook == "renamed.ipynb"
        [pairing] = pair_runs(store, [renamed], before=start)  # nothing earlier
        assert pairing.baseline is None


def test_a_copy_beside_its_original_is_a_new_notebook(team, tmp_path: Path) -> None:
    """Jupyter keeps cell ids when it duplicates a notebook: while the original is still in
    the project, the copy (no runs of its own) is a new notebook whose cells are new, not the
    original renamed, whose baselines its other data would fail."""
    _, store = team
    checkout = tmp_path / "checkout"
    write_notebook(checkout / "missing.ipynb", MISSING)
    copy = {**MISSING, "setup": MISSING["setup"].replace("'a'", "'b'")}
    write_notebook(checkout / "missing-Copy1.ipynb", copy)
    result = run_ci(CIConfig(notebooks=["missing-Copy1.ipynb"], store=str(store)),
                    root=checkout)
    cells = [(c.name, c.status) for c in result.checks if "missing-Copy1.ipynb cell" in c.subject]
    assert cells == [("baseline", "skipped")] * 2, result.summary()
    assert result.passed


JUNIT_XSD = Path(__file__).with_name("junit.xsd")


def test_a_cell_deleted_on_purpose_is_retired(broken, team: tuple[Path, Path]) -> None:
    root, store = team
    status, message = outcome(broken, "recorded cells", "missing.ipynb")
    assert "(last run " in message and "; no longer in the notebook). Deleted on purpose? " \
        'Retire it: retired = ["missing.ipynb:dropped"] under [tool.jupyter-mlops.ci], or ' \
        "--retire missing.ipynb:dropped" in message
    checkout = root / "retired"  # the cell is still there, but tracks no more
    write_notebook(checkout / "missing.ipynb", {**MISSING, "dropped": "largest = frame.max()"})
    config = CIConfig(notebooks=["missing.ipynb"], store=str(store), bundle=False)
    status, message = outcome(run_ci(config, root=checkout), "recorded cells", "missing")
    assert status == "failed" and "still in the notebook: its %%track line removed?" in message
    config = load_config(None, notebooks=["missing.ipynb"], store=str(store), bundle=False,
                         also_retired=["missing.ipynb:dropped"])
    status, message = outcome(run_ci(config, root=checkout), "recorded cells", "missing")
    assert status == "passed" and message.endswith("(1 retired: missing.ipynb:dropped)")
    with pytest.raises(CIConfigError, match="retired: 'dropped' is not NOTEBOOK.ipynb:CELL_ID"):
        load_config(None, retired=["dropped"])


def test_the_junit_report_validates_one_testcase_per_check(broken) -> None:
    import xmlschema

    schema = xmlschema.XMLSchema(JUNIT_XSD)
    report = broken.junit()
    schema.validate(report)
    root = ET.fromstring(report)
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(broken.checks)
    assert int(root.get("failures")) == sum(c.failed for c in broken.checks) > 0
    failure = root.find("./testsuite/testcase[@name='metrics']/failure")
    assert failure is not None and "accuracy" in failure.get("message")
    with pytest.raises(xmlschema.XMLSchemaValidationError):  # the schema can say no
        schema.validate(report.replace("<testcase ", "<testcase_ ").replace(
            "</testcase>", "</testcase_>"))


def test_the_summary_renders_checks_metric_deltas_and_drifted_columns(broken) -> None:
    import mistune  # nbconvert's Markdown renderer, with GitHub's table syntax

    summary = broken.summary()
    html = mistune.create_markdown(plugins=["table"], escape=False)(summary)
    assert html.startswith("<h2>jupyter-mlops ci</h2>")
    assert "check(s) failed</strong>" in html
    header_rows = 2 + 1  # the failed checks', the folded ones' and the metric deltas' tables
    deltas = sum(len(c.details.get("metric_deltas", {})) for c in broken.checks)
    assert html.count("<tr>") == len(broken.checks) + header_rows + deltas
    failed = html.split("<details>")[0]
    assert failed.count("❌ failed") == sum(c.failed for c in broken.checks)
    assert "✅ passed" not in failed  # what failed leads; the rest is folded
    assert "<h3>Metric deltas</h3>" in html and "<td>accuracy</td>" in html
    assert "<h3>Drifted columns</h3>" in html and "<code>shifted.x</code>" in html
    links = re.findall(r'<a href="([^"]+)">', html.split("<h3>Figures</h3>")[1])
    assert len(links) == 2 and all(Path(link).is_file() for link in links)  # unseen, shifted
    figure = Path(next(link for link in links if "shifted" in link)).read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', figure)
    assert scripts == ["plotly.min.js"]  # offline: plotly.js beside the figures, no CDN


def test_settings_come_from_pyproject_and_the_command_line_wins(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.jupyter-mlops.ci]\nnotebooks = "nb"\ngates = ["auc >= 0.9"]\n'
                         'against = "wine@production"\n'
                         '[tool.jupyter-mlops.ci.tolerances]\n'
                         'metrics = {default = 0.02, auc = 0.001}\nnulls = 0.1\n')
    config = load_config(pyproject, against="wine@staging", gates=None)
    assert config.notebooks == ["nb"] and config.gates == ["auc >= 0.9"]
    assert config.against == "wine@staging"
    assert config.tolerances.metric("auc") == 0.001 and config.tolerances.metric("f1") == 0.02
    assert config.tolerances.nulls == 0.1
    assert load_config(tmp_path / "absent.toml") == CIConfig()


@pytest.mark.parametrize(("text", "says"), [
    ("[tool.jupyter-mlops.ci]\nnotebook = 'x'\n", "unknown CI setting(s) notebook"),
    ("[tool.jupyter-mlops.ci.tolerances]\nmetric = 0.1\n", "unknown tolerance(s) metric"),
    ("[tool.jupyter-mlops.ci\n", "is not valid TOML"),
    ("[tool.jupyter-mlops.ci]\nretired = 3\n", "retired takes a list of strings, not 3"),
    ("[tool.jupyter-mlops.ci.tolerances]\nnulls = -1\n", "tolerance nulls takes a number >= 0"),
    ("[tool.jupyter-mlops.ci.tolerances]\nmetrics = {auc = 'x'}\n",
     "tolerance metrics.auc takes a number >= 0, not 'x'"),
    # a string is not false: in_place = "false" must not record into the team's store
    ("[tool.jupyter-mlops.ci]\nin_place = 'false'\n", "in_place takes true or false, not 'false'"),
    ("[tool.jupyter-mlops.ci]\nbundle = 'no'\n", "bundle takes true or false, not 'no'"),
    ("[tool.jupyter-mlops.ci]\ntimeout = 'x'\n", "timeout takes a whole number of seconds > 0"),
    ("[tool.jupyter-mlops.ci]\ntimeout = 0\n", "timeout takes a whole number of seconds > 0"),
    ("[tool.jupyter-mlops.ci]\nstore = 5\n", "store takes a string, not 5"),
    ("[tool.jupyter-mlops.ci]\nnotebooks = [1]\n", "notebooks takes a list of strings, not .1."),
    ("[tool.jupyter-mlops.ci]\ngates = [{a = 1}]\n", "gates takes a list of strings"),
    ("[tool.jupyter-mlops.ci]\ntolerances = 5\n", "tolerances takes a table"),
    ("[tool.jupyter-mlops]\nci = 5\n", "ci] takes a table of settings, not 5"),
    ("[tool.jupyter-mlops.ci]\ngates = [" + ", ".join(["'a>1'"] * 1001) + "]\n",
     "gates has 1001 entries; at most 1000"),
    ("[tool.jupyter-mlops.ci]\nagainst = '" + "w" * 5000 + "'\n",
     "against is 5000 characters long; at most 4096"),
    # a malformed gate is named before the notebooks run, not after every one of them
    ("[tool.jupyter-mlops.ci]\ngates = ['champion(alpha=2)']\n",
     "gates: champion gate: alpha is a level between 0 and 1"),
    ("[tool.jupyter-mlops.ci]\ngates = ['auc >=']\n", "gates: gate 'auc >=' is not a valid"),
    ("[tool.jupyter-mlops.ci]\ngates = ['rollout(alpha=-1)']\n",
     "gates: rollout gate: alpha is a number ≥ 0"),
])
def test_a_wrong_setting_is_named(tmp_path: Path, text: str, says: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(text)
    with pytest.raises(CIConfigError, match=r"(?s).*" + says.replace("(", r"\(").replace(
            ")", r"\)")):
        load_config(pyproject)


def test_a_notebook_that_is_not_there_is_named(tmp_path: Path) -> None:
    with pytest.raises(CIConfigError, match="no notebook or directory 'gone.ipynb'"):
        CIConfig(notebooks=["gone.ipynb"]).notebook_paths(tmp_path)


def test_init_github_writes_a_workflow_that_runs_ci_and_comments(tmp_path: Path) -> None:
    path = write_workflow("github", tmp_path)
    assert path == tmp_path / ".github" / "workflows" / "mlops-ci.yml"
    workflow = yaml.safe_load(path.read_text())
    assert set(workflow[True]) == {"pull_request", "push"}  # YAML 1.1 reads `on` as True
    job = workflow["jobs"]["mlops-ci"]
    steps = job["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    assert steps[1]["with"]["cache"] == "pip"
    runs = " ".join(s.get("run", "") for s in steps)
    assert "jupyter-mlops ci --junit mlops-ci.xml --summary mlops-ci.md --figures " \
        "mlops-ci-figures" in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "mlops-ci-figures/" in upload["with"]["path"]
    assert "actions/upload-artifact" in uses and "gh pr comment" in runs
    assert job["permissions"]["pull-requests"] == "write"
    with pytest.raises(CIConfigError, match="exists"):
        write_workflow("github", tmp_path)


def test_init_gitlab_writes_a_job_with_a_junit_report(tmp_path: Path) -> None:
    config = yaml.safe_load(write_workflow("gitlab", tmp_path).read_text())
    job = config["mlops-ci"]
    assert any("jupyter-mlops ci" in line for line in job["script"])
    assert job["artifacts"]["reports"]["junit"] == "mlops-ci.xml"
    assert job["artifacts"]["when"] == "always" and job["cache"]["paths"]
    with pytest.raises(CIConfigError, match="github or gitlab"):
        write_workflow("jenkins", tmp_path)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_the_cli_exits_1_naming_the_failed_check(broken, team: tuple[Path, Path]) -> None:
    root, store = team
    done = cli("ci", "missing.ipynb", "--store", str(store), "--no-bundle", "--in-place",
               cwd=root / "checkout")
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    assert "FAILED recorded cells · missing.ipynb: no longer recorded: missing.ipynb cell " \
        "dropped" in done.stdout
    with open_store(store) as opened:  # --in-place: recorded in the store itself, tagged ci
        tagged = opened.conn.execute("SELECT r.name FROM runs r JOIN tags t USING (run_id) "
                                     "WHERE t.key = 'ci'").fetchall()
        assert tagged == [("kept",)]


def test_the_cli_says_what_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    done = cli("ci", "gone.ipynb", "--store", str(tmp_path / "s"), cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no notebook or directory 'gone.ipynb'" in done.stderr
    done = cli("ci", "--tolerance", "auc", cwd=tmp_path)
    assert done.returncode == 2 and "--tolerance takes METRIC=DELTA" in done.stderr
    done = cli("ci", "--tolerance", "auc=-1", cwd=tmp_path)
    assert done.returncode == 2 and "tolerance metrics.auc takes a number >= 0" in done.stderr
    done = cli("ci", "--init", "github", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / ".github/workflows/mlops-ci.yml").is_file()


def test_a_rollout_gate_in_ci_fails_saying_why() -> None:
    from jupyter_mlops.ci.quality import gate_checks
    from jupyter_mlops.entities import Run

    run = Run("01R", "model", "default", "finished", 0.0, 1.0, 1.0, "", "", {},
              {"accuracy": 0.9}, {}, [], [])
    (_, status, message, _), (_, bad, problem, _) = gate_checks(
        None, run, None, ["rollout", "rollout(alpha=2)"])  # type: ignore[arg-type]
    assert status == "failed" and "the rollout gate judges a served rollout" in message
    assert bad == "failed" and "alpha is a level between 0 and 1" in problem


def test_a_cell_new_to_a_notebook_with_history_takes_no_other_notebooks_baseline(
        tmp_path: Path) -> None:
    """Only a notebook with no runs of its own (a renamed one) finds baselines by cell id in
    another notebook: in one with history, a new cell whose id (or, without an id, whose
    source) matches another notebook's cell is new, not that cell."""
    from jupyter_mlops.ci.baseline import pair_runs
    from jupyter_mlops.store import RunResult

    t = time.time() - 100
    with open_store(tmp_path, create=True) as store:
        def run(run_id: str, notebook: str, cell: str, started: float) -> None:
            store.start_run(run_id, name=run_id, experiment="e", source="x = 1",
                            source_hash="h", started_at=started, notebook=notebook,
                            cell_id=cell)
            store.finish_run(run_id, RunResult(status="finished", ended_at=started + 1))

        run("01OTHER", "other.ipynb", "shared", t)
        run("01OWN", "mine.ipynb", "first", t + 1)
        before = t + 5
        run("01NEWCELL", "mine.ipynb", "shared", t + 10)  # a cell new to mine.ipynb
        run("01RENAMED", "renamed.ipynb", "shared", t + 11)  # other.ipynb, renamed
        new_cell, renamed = pair_runs(store, ["01NEWCELL", "01RENAMED"], before)
        # while other.ipynb is still in the project, renamed.ipynb is its copy: a new cell
        [copied] = pair_runs(store, ["01RENAMED"], before,
                             present={"other.ipynb", "renamed.ipynb", "mine.ipynb"})
    assert new_cell.baseline is None
    assert renamed.baseline == "01OTHER"
    assert copied.baseline is None
