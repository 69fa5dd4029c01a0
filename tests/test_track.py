"""%%track in a real IPython shell: the cell behaves as untracked, and the run is recorded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import Shell

DATA = """
import numpy as np, pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
"""

TRAIN = """%%track lr -e cancer --eval X_test y_test --tag owner=ana
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
C = 0.3
model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500))
model.fit(X_train, y_train)
acc = model.score(X_test, y_test)
acc
"""

DIABETES = "from sklearn.datasets import load_diabetes\nX, y = load_diabetes(return_X_y=True)"


def latest(shell: Shell):
    return shell.store().get_run(shell.store().runs(limit=1)["run_id"][0])


def test_tracked_cell_shows_its_value_and_a_summary(shell: Shell) -> None:
    shell.run(DATA)
    cell = shell.run(TRAIN)
    assert cell.result.success
    assert 0.9 < cell.value < 1.0
    assert shell.ns["acc"] == cell.value
    assert "Out[" in cell.stdout and str(round(cell.value, 3))[:4] in cell.stdout
    summary = cell.stdout.strip().splitlines()[-2]
    assert summary.startswith("run ") and " lr · finished " in summary
    assert "model Pipeline" in summary and "X_train(426×30)" in summary


def test_run_records_params_metrics_inputs_outputs(shell: Shell) -> None:
    shell.run(DATA)
    shell.run(TRAIN)
    run = latest(shell)
    assert run.name == "lr" and run.experiment == "cancer" and run.status == "finished"
    assert run.params["C"] == 0.3
    assert run.params["logisticregression__C"] == 0.3
    assert run.params["logisticregression__max_iter"] == 500
    assert run.params["standardscaler__with_mean"] is True
    assert run.tags == {"owner": "ana"}
    assert run.metrics["acc"] == pytest.approx(shell.ns["acc"])
    for key in ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"):
        assert key in run.metrics
    assert run.metrics["accuracy"] == pytest.approx(shell.ns["acc"])
    inputs = {e.name: e for e in run.inputs}
    assert set(inputs) == {"X_train", "y_train", "X_test", "y_test"}
    assert all(e.kind == "dataset" and e.fingerprint.startswith("data:") for e in inputs.values())
    outputs = {e.name: e for e in run.outputs}
    assert outputs["model"].kind == "model"
    assert outputs["predictions"].kind == "artifact"
    assert "from sklearn.linear_model import LogisticRegression" in run.source
    assert run.duration_s is not None and run.duration_s > 0
    assert "scikit-learn" in run.environment["packages"]
    assert run.execution_count is not None


def test_stored_model_predicts_like_the_kernel_model(shell: Shell) -> None:
    shell.run(DATA)
    shell.run(TRAIN)
    run = latest(shell)
    loaded = shell.store().load_model(run.run_id)
    X_test = shell.ns["X_test"]
    np.testing.assert_array_equal(loaded.predict(X_test), shell.ns["model"].predict(X_test))


def test_regressor_eval_metrics(shell: Shell) -> None:
    shell.run(DIABETES)
    cell = shell.run("%%track ridge --eval X y\n"
                     "from sklearn.linear_model import Ridge\n"
                     "reg = Ridge(alpha=0.5).fit(X, y)")
    assert cell.result.success
    run = latest(shell)
    assert {"rmse", "mae", "r2"} <= set(run.metrics)
    assert run.params["alpha"] == 0.5
    assert 0 < run.metrics["r2"] < 1


def test_log_metric_with_steps_makes_a_curve(shell: Shell) -> None:
    shell.run("%%track curve\n"
              "import jupyter_mlops as mlops\n"
              "for epoch in range(50):\n"
              "    mlops.log_metric('loss', 1 / (epoch + 1))\n"
              "mlops.log_metrics({'val_loss': 0.3, 'val_acc': 0.8}, step=7)\n"
              "mlops.log_param('optimizer', 'sgd')\n")
    run = latest(shell)
    history = run.metric_history("loss")
    assert [p.step for p in history] == list(range(50))
    assert history[-1].value == pytest.approx(1 / 50)
    assert run.metrics["loss"] == pytest.approx(1 / 50)
    assert run.metric_history("val_acc")[0].step == 7
    assert run.params["optimizer"] == "sgd"


def test_metric_and_param_options(shell: Shell) -> None:
    shell.run("%%track opts --metric score_like --param cfg\n"
              "cfg = {'layers': 3}\n"
              "score_like = 0.25\n"
              "val_auc = 0.75\n"
              "n_rows = 10\n")
    run = latest(shell)
    assert run.metrics["score_like"] == 0.25
    assert run.metrics["val_auc"] == 0.75
    assert "n_rows" not in run.metrics and run.params["n_rows"] == 10
    assert run.params["cfg"] == {"layers": 3}


def test_options_that_name_nothing_or_leave_a_choice_warn(shell: Shell) -> None:
    shell.run(DIABETES)
    cell = shell.run("%%track two --eval X y --model nope --data ghost\n"
                     "from sklearn.linear_model import Lasso, Ridge\n"
                     "ridge = Ridge().fit(X, y)\nlasso = Lasso().fit(X, y)")
    assert cell.result.success
    warnings = latest(shell).warnings
    assert warnings[:2] == [
        "--model nope: no variable nope exists, and the cell does not assign it; --model "
        "ignores it",
        "--data ghost: no variable ghost exists, and the cell does not assign it; --data "
        "ignores it"]
    assert "--eval scored ridge (the cell has models ridge, lasso): name one with --model" \
        in warnings
    assert "nope" in cell.stderr + cell.stdout and "ghost" in cell.stderr + cell.stdout
    swapped = shell.run("%%track swapped --eval y X\nfrom sklearn.linear_model import Ridge\n"
                        "model = Ridge().fit(X, y)")
    assert swapped.result.success
    assert ("--eval y X: y is 1-D and X 2-D; give the features first, then the targets"
            in latest(shell).warnings)


def test_trailing_semicolon_hides_the_value(shell: Shell) -> None:
    cell = shell.run("%%track quiet\n41 + 1;")
    assert cell.result.success
    assert "Out[" not in cell.stdout and "42" not in cell.stdout.split("run ")[0]


def test_display_magics_and_shell_lines_work_inside(shell: Shell) -> None:
    cell = shell.run("%%track mixed\n"
                     "from IPython.display import display\n"
                     "display('shown-by-display')\n"
                     "%time z = 5\n"
                     "!echo from-shell\n"
                     "print('printed')\n")
    assert cell.result.success, cell.stderr
    assert "shown-by-display" in cell.stdout and "printed" in cell.stdout
    assert shell.ns["z"] == 5
    run = latest(shell)
    assert "printed" in run.stdout
    assert "get_ipython()" in run.source  # the source as run, after IPython's transforms


def test_no_capture_output(shell: Shell) -> None:
    cell = shell.run("%%track --no-capture-output\nprint('secret')")
    assert "secret" in cell.stdout
    assert latest(shell).stdout == ""


def test_failing_cell_is_a_failed_run_and_still_raises(shell: Shell) -> None:
    cell = shell.run("%%track boom\nhalf = 1\n1 / 0\n")
    assert not cell.result.success
    assert isinstance(cell.result.error_in_exec, ZeroDivisionError)
    assert "ZeroDivisionError" in cell.stdout + cell.stderr  # the user's traceback
    assert shell.ns["half"] == 1
    run = latest(shell)
    assert run.status == "failed"
    assert run.error == "ZeroDivisionError: division by zero"
    assert "1 / 0" in run.traceback


def test_cell_numbers_are_the_prompts(shell: Shell) -> None:
    value = shell.run("%%track counted\n6 * 7")
    assert f"Out[{value.result.execution_count}]: 42" in value.stdout
    failing = shell.run("%%track numbered\n1 / 0")
    number = failing.result.execution_count
    assert f"Cell In[{number}], line 1" in failing.stdout + failing.stderr
    assert shell.store().get_run("numbered").execution_count == number
    assert shell.run("x = 1").result.execution_count == number + 1


def test_interrupted_cell(shell: Shell) -> None:
    cell = shell.run("%%track stop\nraise KeyboardInterrupt\n")
    assert isinstance(cell.result.error_in_exec, KeyboardInterrupt)
    assert latest(shell).status == "interrupted"


def test_syntax_error_in_body_is_a_failed_run(shell: Shell) -> None:
    cell = shell.run("%%track bad\nx = (\n")
    assert not cell.result.success
    assert latest(shell).status == "failed"


@pytest.mark.parametrize("line", [
    "%%track --eval onlyone", "%%track --tag novalue", "%%track --bogus", "%%track a b",
])
def test_malformed_arguments_are_a_usage_error_and_the_cell_does_not_run(
    shell: Shell, line: str
) -> None:
    cell = shell.run(f"{line}\nran = True\n")
    assert "ran" not in shell.ns
    assert "UsageError" in cell.stdout + cell.stderr
    assert "usage: %%track [-e EXPERIMENT]" in cell.stdout + cell.stderr
    assert shell.store().count_runs() == 0


def test_log_calls_outside_a_tracked_cell_raise_clearly(shell: Shell) -> None:
    import jupyter_mlops as mlops
    from jupyter_mlops.errors import NoActiveRunError

    with pytest.raises(NoActiveRunError, match="%%track"):
        mlops.log_metric("x", 1)


def test_log_metric_rejects_non_numbers_in_the_cell(shell: Shell) -> None:
    cell = shell.run("%%track\nimport jupyter_mlops as mlops\nmlops.log_metric('acc', 'high')")
    assert isinstance(cell.result.error_in_exec, TypeError)
    assert "needs a number" in str(cell.result.error_in_exec)


def test_log_artifact(shell: Shell, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    shell.run("%%track art\nimport jupyter_mlops as mlops, pandas as pd\n"
              f"mlops.log_artifact({str(tmp_path / 'notes.txt')!r})\n"
              "mlops.log_artifact(pd.DataFrame({'a': [1]}), name='table.csv')\n")
    run = latest(shell)
    names = {e.name: e for e in run.outputs if e.kind == "artifact"}
    assert set(names) == {"notes.txt", "table.csv"}
    sha = names["notes.txt"].fingerprint.removeprefix("sha256:")
    assert shell.store().artifacts.get(sha) == b"hello"
    missing = shell.run("%%track gone\nimport jupyter_mlops as mlops\n"
                        "mlops.log_artifact('missing.txt')")
    shown = missing.stdout + missing.stderr
    assert "log_artifact('missing.txt'): no such file" in shown
    assert "api.py" not in shown and "recorder.py" not in shown  # the user's line, not ours


def test_reload_ext_is_clean(shell: Shell) -> None:
    count = len(shell.ip.events.callbacks["post_run_cell"])
    shell.run("%reload_ext jupyter_mlops")
    shell.run("%reload_ext jupyter_mlops")
    assert len(shell.ip.events.callbacks["post_run_cell"]) == count
    shell.run("%unload_ext jupyter_mlops")
    assert "track" not in shell.ip.magics_manager.magics["cell"]
    shell.run("%load_ext jupyter_mlops")
    assert shell.run("%%track\nx = 1").result.success


def test_mlops_line_magic(shell: Shell) -> None:
    shell.run(DATA)
    shell.run(TRAIN)
    runs = shell.run("%mlops runs").value
    assert list(runs.columns[:6]) == ["run_id", "experiment", "name", "status", "started_at",
                                      "duration_s"]
    shown = shell.run("%mlops show lr")
    assert "params:" in shown.stdout and "C = 0.3" in shown.stdout
    assert "UsageError" in shell.run("%mlops show nosuchrun").stderr + shell.run(
        "%mlops show nosuchrun").stdout
    where = shell.run("%mlops store")
    assert "store:" in where.stdout and "1 runs" in where.stdout


def test_show_has_the_cell_output_and_nan_metrics(shell: Shell) -> None:
    shell.run("%%track noisy\nimport jupyter_mlops as mlops\n"
              "for epoch in range(15):\n    print(f'epoch {epoch}')\n"
              "mlops.log_metric('loss', float('nan'))")
    run = shell.store().get_run("noisy")
    assert np.isnan(run.metrics["loss"]) and np.isnan(run.metric_history("loss")[0].value)
    shown = shell.run("%mlops show noisy").stdout
    assert "loss = nan" in shown
    assert "output (last 10 lines of 15):" in shown and "    epoch 14" in shown
    assert "    epoch 4\n" not in shown


def test_switching_stores_with_the_line_magic(shell: Shell, tmp_path) -> None:
    other = tmp_path / "other-store"
    assert str(other) in shell.run(f"%mlops store {other}").stdout
    shell.run("%%track elsewhere\nx = 1")
    assert (other / "lineage.db").exists()
    assert list(shell.store().runs()["name"]) == ["elsewhere"]
    (tmp_path / "afile").write_text("not a store")
    bad = shell.run(f"%mlops store {tmp_path / 'afile'}")
    assert "UsageError" in bad.stderr and "Traceback" not in bad.stderr + bad.stdout
    assert str(other) in shell.run("%mlops store").stdout  # still on the store that works


def test_mlops_runs_options(shell: Shell) -> None:
    shell.run("%%track one -e alpha\nx = 1")
    assert len(shell.run("%mlops runs -e alpha -n 5").value) == 1
    nothing = shell.run("%mlops runs -e nope")
    assert nothing.value.empty
    # the CLI's message; shown as the empty table, not beside a "no runs yet" one
    assert nothing.stdout.endswith("no runs in experiment 'nope'; the experiments are: alpha\n")
    assert "no runs yet" not in nothing.stdout
    bad = shell.run("%mlops runs -n abc")
    assert "UsageError" in bad.stderr and "invalid int value: 'abc'" in bad.stderr


def test_mlops_lists_its_commands_and_shows_their_help(shell: Shell) -> None:
    listed = shell.run("%mlops").stderr
    for usage in ("%mlops runs [-e EXPERIMENT]", "%mlops transition [--gate GATE]",
                  "%mlops retrain [--data VAR=NEWVAR] [--holdout SHARE]", "%mlops store [PATH]"):
        assert usage in listed, listed
    assert "%mlops COMMAND -h" in listed and "doctor" not in listed  # the CLI's own
    helped = shell.run("%mlops promote -h")  # prints the help; no SystemExit
    assert helped.result.success and "SystemExit" not in helped.stderr + helped.stdout
    assert helped.stdout.startswith("usage: %mlops promote") and "--no-verify" in helped.stdout


def test_tracking_makes_no_network_calls(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    attempts: list[object] = []

    def refuse(self, address):  # noqa: ANN001
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    shell.run(DATA)
    cell = shell.run(TRAIN)
    assert cell.result.success and "⚠" not in cell.stdout + cell.stderr
    assert attempts == []


def test_run_records_the_git_state_of_the_kernel_directory(
    shell: Shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_mlops.capture import environment

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q", "-b", "trunk")
    (tmp_path / "train.py").write_text("C = 1\n")
    git("add", "train.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    monkeypatch.setattr(environment, "_git_cache", {})
    shell.run("%%track clean\nx = 1")
    (tmp_path / "train.py").write_text("C = 2\n")  # an uncommitted edit
    monkeypatch.setattr(environment, "_git_cache", {})
    shell.run("%%track edited\nx = 2")
    store = shell.store()
    commit = git("rev-parse", "HEAD")
    assert store.get_run("clean").git == {"commit": commit, "branch": "trunk", "dirty": False}
    assert store.get_run("edited").git == {"commit": commit, "branch": "trunk", "dirty": True}


def test_mlops_runs_as_plain_text_is_one_line_per_run(shell: Shell) -> None:
    # Given 20 runs of a model with many params, two of which vary
    shell.run("from sklearn.linear_model import LogisticRegression\nimport numpy as np\n"
              "X = np.arange(40.0).reshape(20, 2)\ny = np.arange(20) % 2")
    for i in range(20):
        assert shell.run(f"%%track lr-{i}\nm = LogisticRegression(C={i + 1}, "
                         f"max_iter={100 + i % 3}).fit(X, y)\nacc = {i / 20}").result.success
    runs = shell.run("%mlops runs --sort metrics.acc").value
    # then the plain-text view is a compact table: a header, 20 rows, at most a footer
    lines = repr(runs).splitlines()
    assert len(lines) <= 23 and max(map(len, lines)) <= 100, "\n".join(lines)
    assert lines[0].split() == ["run_id", "name", "status", "started", "acc", "C", "max_iter"]
    assert lines[1].split()[1:3] == ["lr-19", "finished"] and "0.95" in lines[1]
    assert "params.C" in runs and "params.penalty" not in runs  # the params that differ
    full = shell.run("%mlops runs --frame").value  # on request: the plain frame, every param
    assert type(full).__name__ == "DataFrame" and len(full) == 20
    assert "params.penalty" in full and "penalty" in full.to_string()
    assert "UsageError" in shell.run("%mlops runs --sort metrics.nope").stderr
