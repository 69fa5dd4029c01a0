"""Lineage by content across cells and kernels; the code slice and staleness warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Shell, track_chain

from jupyter_mlops import open_store
from jupyter_mlops.store.lineage import lineage


def run_ids(shell: Shell) -> dict[str, str]:
    frame = shell.store().runs()
    return dict(zip(frame["name"], frame["run_id"], strict=True))


def test_runs_link_through_the_data_and_models_they_share(shell: Shell) -> None:
    track_chain(shell)
    ids = run_ids(shell)
    store = shell.store()
    assert store.upstream(ids["score"]) == [ids["prep"], ids["train"]]
    assert store.downstream(ids["prep"]) == [ids["train"], ids["score"]]
    assert store.upstream(ids["unrelated"]) == []
    score = store.get_run(ids["score"])
    assert {e.name: e.kind for e in score.inputs} == {"tree": "model", "clean": "dataset"}
    text = shell.run(f"%mlops lineage {ids['train']}").stdout
    assert "upstream:" in text and "prep" in text and "score" in text


def test_in_place_fit_makes_the_model_an_output(shell: Shell) -> None:
    shell.run("from sklearn.linear_model import LinearRegression\nimport numpy as np\n"
              "reg = LinearRegression()\nX = np.arange(20.0).reshape(10, 2)\ny = X.sum(axis=1)")
    shell.run("%%track fit\nreg.fit(X, y)")
    run = shell.store().get_run("fit")
    assert [e.name for e in run.outputs if e.kind == "model"] == ["reg"]


def test_unchanged_inputs_are_not_outputs(shell: Shell) -> None:
    shell.run("import numpy as np\narr = np.ones(5)")
    shell.run("%%track look\ntotal = arr.sum()")
    run = shell.store().get_run("look")
    assert [e.name for e in run.inputs] == ["arr"]
    assert [e.name for e in run.outputs] == []


def test_files_read_by_path_are_inputs(shell: Shell, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,4\n")
    path = str(tmp_path / "data.csv")
    shell.run(f"%%track load\nimport pandas as pd\ndf = pd.read_csv({path!r})")
    run = shell.store().get_run("load")
    files = [e for e in run.inputs if e.fingerprint.startswith("file:")]
    assert len(files) == 1 and files[0].detail["size"] == 12
    assert [e.name for e in run.outputs] == ["df"]


def test_lineage_across_kernels(shell: Shell, store_dir: Path, tmp_path: Path) -> None:
    shell.run("import pandas as pd\nsrc = pd.DataFrame({'v': range(50)})")
    pickled = str(tmp_path / "f.pkl")
    shell.run(f"%%track export\nfeatures = src * 2\nfeatures.to_pickle({pickled!r})")
    cells = ["%load_ext jupyter_mlops",
             f"import pandas as pd\nfeats = pd.read_pickle({str(tmp_path / 'f.pkl')!r})",
             "%%track consume\nsummary = feats.describe()"]
    other_kernel = (
        "from IPython.testing.globalipapp import start_ipython\n"
        "ip = start_ipython()\n"
        f"for cell in {cells!r}:\n"
        "    assert ip.run_cell(cell).success\n"
    )
    subprocess.run([sys.executable, "-c", other_kernel], check=True, cwd=tmp_path,
                   env={**__import__("os").environ, "JUPYTER_MLOPS_STORE": str(store_dir)})
    ids = run_ids(shell)
    assert shell.store().upstream(ids["consume"]) == [ids["export"]]


def test_code_slice_holds_the_cells_the_inputs_came_from(shell: Shell) -> None:
    shell.run("import numpy as np")
    shell.run("n = 10")
    shell.run("unrelated = 'x'")
    shell.run("data = np.arange(n)")
    shell.run("%%track sliced\ntotal_score = float(data.sum())")
    run = shell.store().get_run("sliced")
    assert [c.source.strip() for c in run.code_slice] == [
        "import numpy as np", "n = 10", "data = np.arange(n)"]
    assert run.warnings == []


def test_stale_input_after_out_of_order_rerun_warns(shell: Shell) -> None:
    shell.run("n = 10")
    shell.run("data = list(range(n))")
    shell.run("n = 20")
    cell = shell.run("%%track stale\ntotal = sum(data)")
    run = shell.store().get_run("stale")
    assert any("computed from n" in w for w in run.warnings)
    assert "⚠" in cell.stdout


def test_edited_defining_cell_warns(shell: Shell) -> None:
    shell.run("threshold = 0.5", cell_id="cell-a")
    shell.run("print('edited: no threshold any more')", cell_id="cell-a")
    shell.run("%%track edited\nuse = threshold * 2", cell_id="cell-b")
    run = shell.store().get_run("edited")
    assert any("edited and re-run" in w for w in run.warnings)
    assert run.cell_id == "cell-b"


SIBLINGS = """\
import pandas as pd, numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import cross_val_score
df = pd.DataFrame({'a': np.arange(60.0), 'c': np.arange(60.0) ** 0.5, 'b': np.arange(60) % 2})
template = LogisticRegression(max_iter=300)
"""


def test_siblings_that_read_the_same_data_are_not_linked(shell: Shell) -> None:
    # Given three runs that read one dataset and each fit the same estimator object
    shell.run(SIBLINGS)
    shell.run("%%track sib-refit\nmodel = template.fit(df[['a']], df.b)")
    shell.run("%%track sib-clone\nscores = cross_val_score(template, df[['a', 'c']], df.b, cv=3)\n"
              "other = clone(template).fit(df[['a', 'c']], df.b)")
    shell.run("%%track sib-again\ntemplate.fit(df[['c']], df.b)\n"
              "acc = template.score(df[['c']], df.b)")
    ids = run_ids(shell)
    store = shell.store()
    # Then no sibling is upstream or downstream of another: an edge is "its output, my input"
    for name in ("sib-refit", "sib-clone", "sib-again"):
        assert store.upstream(ids[name]) == [] and store.downstream(ids[name]) == [], name
    text = shell.run("%mlops lineage sib-refit").stdout
    assert "upstream: none" in text and "downstream: none" in text
    graph = lineage(store, ids["sib-refit"]).as_dict()
    assert [n["name"] for n in graph["nodes"] if n["kind"] == "run"] == ["sib-refit"]
    assert store.get_run(ids["sib-again"]).inputs[0].name == "df"
    # But a run that uses a fitted model (predicts with it) is downstream of its maker
    shell.run("%%track score\npreds = template.predict(df[['c']])")
    assert store.upstream(run_ids(shell)["score"]) == [ids["sib-again"]]


def test_refitting_a_warm_started_model_continues_it(shell: Shell) -> None:
    shell.run(SIBLINGS + "warm = SGDClassifier(warm_start=True, max_iter=5, tol=None)")
    shell.run("%%track first\nwarm.fit(df[['a']], df.b)")
    shell.run("%%track second\nwarm.fit(df[['a']], df.b)")
    ids = run_ids(shell)
    assert shell.store().upstream(ids["second"]) == [ids["first"]]


WRITER = """\
clean = raw * 2
clean.to_json('clean.json')
clean.to_csv('clean.csv', index=False)
np.save('arr', clean.to_numpy())
with open('notes.txt', 'w') as fh:
    fh.write('hello')
Path('meta.json').write_text('{}')
"""
READER = """\
frame = pd.read_json('clean.json')
table = pd.read_csv('clean.csv')
arr = np.load('arr.npy')
text = open('notes.txt').read()
meta = Path('meta.json').read_text()
"""
FILES = {"clean.json", "clean.csv", "arr.npy", "notes.txt", "meta.json"}


def test_files_a_run_writes_are_its_outputs_and_link_their_readers(shell: Shell) -> None:
    shell.run("import pandas as pd, numpy as np\nfrom pathlib import Path\n"
              "raw = pd.DataFrame({'a': np.arange(30.0)})")
    cell = shell.run("%%track prep\n" + WRITER)
    assert "wrote clean.json clean.csv arr.npy notes.txt …" in cell.stdout
    shell.run("%%track train\n" + READER)
    ids = run_ids(shell)
    store = shell.store()
    written = {e.name: e for e in store.get_run(ids["prep"]).outputs if e.detail.get("written")}
    assert set(written) == FILES
    read = {e.name: e for e in store.get_run(ids["train"]).inputs
            if e.fingerprint.startswith("file:")}
    assert {k: e.fingerprint for k, e in read.items()} == {
        k: e.fingerprint for k, e in written.items()}
    assert store.upstream(ids["train"]) == [ids["prep"]]
    # Re-running the writer: the files it (re)writes are not its inputs, so it links to nothing
    shell.run("%%track prep\n" + WRITER)
    again = store.resolve_run_id("prep")
    assert again != ids["prep"] and store.upstream(again) == []
    assert not [e for e in store.get_run(again).inputs if e.fingerprint.startswith("file:")]


def test_a_cell_that_appends_to_a_file_reads_it_too(shell: Shell) -> None:
    Path("log.txt").write_text("first\n")
    shell.run("%%track append\nwith open('log.txt', 'a') as fh:\n    fh.write('more\\n')")
    run = shell.store().get_run("append")
    assert [e.name for e in run.inputs] == ["log.txt"]
    assert [e.name for e in run.outputs] == ["log.txt"]
    assert run.inputs[0].fingerprint != run.outputs[0].fingerprint


def _notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(c) for c in ["%load_ext jupyter_mlops", *cells]]
    nbformat.write(notebook, path)
    return path


def test_lineage_across_notebooks_through_a_file(store_dir: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "notebooks"))
    from run import execute

    (tmp_path / "data").mkdir()
    prep = _notebook(tmp_path / "prep.ipynb", [
        "import pandas as pd\nraw = pd.DataFrame({'x': range(40), 'y': [0, 1] * 20})",
        "%%track prep\nclean = raw[raw.x > 3]\nclean.to_csv('data/clean.csv', index=False)"])
    train = _notebook(tmp_path / "train.ipynb", [
        "%%track train\nimport pandas as pd\nfrom sklearn.tree import DecisionTreeClassifier\n"
        "frame = pd.read_csv('data/clean.csv')\n"
        "tree = DecisionTreeClassifier().fit(frame[['x']], frame.y)"])
    execute(prep)
    execute(train)
    with open_store(store_dir) as store:
        ids = dict(zip(store.runs()["name"], store.runs()["run_id"], strict=True))
        assert store.upstream(ids["train"]) == [ids["prep"]]
        assert store.downstream(ids["prep"]) == [ids["train"]]
        assert store.get_run(ids["train"]).notebook == str(train)
