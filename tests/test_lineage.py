"""Lineage by content across cells and kernels; the code slice and staleness warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Shell, track_chain


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
