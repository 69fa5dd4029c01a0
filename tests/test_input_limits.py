"""Every door validates its input: gates, search strings and magic arguments answer bad or
oversized input with one clear error, never a traceback (the HTTP doors have their own files:
test_bundle_limits.py, test_server_limits.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Shell
from test_server import seed

from jupyter_mlops.data.tables import MAX_JSONL_LINE
from jupyter_mlops.errors import GateError
from jupyter_mlops.lifecycle.gates import MAX_GATE_CHARS, MAX_GATE_DEPTH, evaluate_gate

CLI = [sys.executable, "-m", "jupyter_mlops.cli"]
HOSTILE_GATES = ["not " * 10_000 + "acc>0.5", "-" * 10_000 + "1<acc", "not " * 200 + "acc>0.5",
                 "-" * 900 + "1<acc", "acc>0.5 and " * 200 + "acc>0.5"]


@pytest.mark.parametrize("gate", HOSTILE_GATES)
def test_hostile_gates_are_a_gate_error(gate: str) -> None:
    with pytest.raises(GateError, match=f"at most {MAX_GATE_CHARS}|more than {MAX_GATE_DEPTH}"):
        evaluate_gate(gate, {"acc": 0.9})


@pytest.mark.parametrize("gate", ["champion(min_improvement=" + "-" * 10_000 + "1)",
                                  "champion(" + "not " * 10_000 + ")"])
def test_hostile_champion_gates_are_a_gate_error(gate: str) -> None:
    from jupyter_mlops.lifecycle.champion import parse_champion

    with pytest.raises(GateError, match=f"at most {MAX_GATE_CHARS}"):
        parse_champion(gate)


@pytest.mark.parametrize(("gate", "says"), [
    ("champion(min_improvement='x')", "min_improvement is a number ≥ 0"),
    ("champion(min_improvement=None)", "min_improvement is a number ≥ 0"),
    ("champion(min_improvement=True)", "min_improvement is a number ≥ 0"),
    ("champion(alpha='x')", "alpha is a level between 0 and 1"),
    ("champion(alpha=[1])", "alpha is a level between 0 and 1"),
    ("champion(alpha=1j)", "alpha is a level between 0 and 1"),
    ("champion(metrics=[1])", "metrics takes a metric name or a list of them"),
    ("champion(metrics=[[1]])", "metrics takes a metric name or a list of them"),
    ("champion(alpha=0.1, alpha=0.2)", "alpha given twice"),
    ("rollout(alpha=0.1, alpha=0.2)", "alpha given twice"),
])
def test_odd_champion_and_rollout_options_are_a_gate_error(gate: str, says: str) -> None:
    from jupyter_mlops.lifecycle.champion import parse_champion
    from jupyter_mlops.lifecycle.rollout import parse_rollout

    with pytest.raises(GateError, match=says.replace("(", r"\(").replace(")", r"\)")):
        (parse_champion if gate.startswith("champion") else parse_rollout)(gate)


def test_reasonable_nesting_still_evaluates() -> None:
    gate = "not (" * 10 + "acc > 0.5 and -(-acc) < 1" + ")" * 10
    assert evaluate_gate(gate, {"acc": 0.9}).passed


def test_hostile_gate_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    seed(tmp_path)
    for gate in HOSTILE_GATES[:2]:
        done = subprocess.run([*CLI, "--store", str(tmp_path), "promote", "01TRAIN", "--name",
                               "m", f"--gate={gate}"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"a gate has at most {MAX_GATE_CHARS}" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def registered(tmp_path: Path) -> Path:
    """A store whose models' names differ only where LIKE would see a wildcard."""
    from jupyter_mlops import open_store
    from jupyter_mlops.store.registry import register_version

    seed(tmp_path)
    with open_store(tmp_path) as store:
        for name in ("a_v", "axv", "a_v2"):
            register_version(store, name=name, run_id="01TRAIN", model_fingerprint="f",
                             model_variable="model", actor="test", reason=name)
    return tmp_path


def test_events_match_their_subject_literally(tmp_path: Path) -> None:
    from jupyter_mlops import open_store

    with open_store(registered(tmp_path)) as store:
        assert {e.subject for e in store.events("a_v")} == {"a_v", "a_v/1"}
        assert {e.subject for e in store.events("a_v/1")} == {"a_v/1"}
        assert store.events("%") == [] and store.events("a%") == [] and store.events("_") == []
        assert store.events("A_V") == []  # model names are case-sensitive
    done = subprocess.run([*CLI, "--store", str(tmp_path), "events", "a_v"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "axv" not in done.stdout and "a_v2" not in done.stdout


def test_run_id_prefixes_and_searches_match_literally(tmp_path: Path) -> None:
    from jupyter_mlops import open_store
    from jupyter_mlops.errors import RunNotFoundError
    from jupyter_mlops.store.listing import MAX_SEARCH_CHARS, count_runs, runs_page

    with open_store(registered(tmp_path)) as store:
        assert store.resolve_run_id("01TR") == "01TRAIN"
        for prefix in ("0_TR", "01%", "_1TRAIN", "%"):
            with pytest.raises(RunNotFoundError):
                store.resolve_run_id(prefix)
        assert count_runs(store.conn, search="%") == count_runs(store.conn, search="_") == 0
        assert [r["run_id"] for r in runs_page(store.conn, search="tra")] == ["01TRAIN"]
        with pytest.raises(ValueError, match=f"at most {MAX_SEARCH_CHARS} characters"):
            count_runs(store.conn, search="x" * (MAX_SEARCH_CHARS + 1))


def test_track_arguments_are_split_like_a_shell(shell: Shell) -> None:
    """Given quoted values with spaces, every option gets the words without the quotes."""
    shell.run("import pandas as pd\nframe = pd.DataFrame({'a': [1.0, 2.0]})")
    cell = shell.run('%%track "two words" -e \'my experiment\' --tag "team=data science" '
                     '--data frame\nscore = float(frame.a.sum())')
    assert cell.result.success, cell.stderr
    run = shell.store().get_run(shell.store().resolve_run_id("two words"))
    assert (run.name, run.experiment, run.tags) == (
        "two words", "my experiment", {"team": "data science"})
    listed = shell.run('%mlops runs -e "my experiment"')
    assert list(listed.value["name"]) == ["two words"]


@pytest.mark.parametrize("line, message", [
    ('%%track "unclosed', "No closing quotation"),
    ("%%track " + "n" * 300, "is 300 characters long; at most 200"),
    ("%%track x --tag " + "k=" + "v" * 300, "at most 200"),
])
def test_unreadable_track_arguments_are_a_usage_error(shell: Shell, line: str,
                                                      message: str) -> None:
    cell = shell.run(line + "\nran = True")
    assert "UsageError" in cell.stderr and message in cell.stderr
    assert "Traceback" not in cell.stderr + cell.stdout and "ran" not in shell.ns


def test_unreadable_mlops_arguments_are_a_usage_error(shell: Shell) -> None:
    cell = shell.run('%mlops show "unclosed')
    assert "UsageError" in cell.stderr and "No closing quotation" in cell.stderr
    assert "Traceback" not in cell.stderr + cell.stdout


def test_cli_transition_to_production_takes_promotes_checks(tmp_path: Path) -> None:
    seed(tmp_path)

    def transition(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "--store", str(tmp_path), "transition", "demo-model", "1",
                               "production", *args], capture_output=True, text=True, timeout=120)

    done = transition("--no-verify")
    assert done.returncode == 2 and "needs a reason" in done.stderr
    done = transition("--no-verify", "--reason", "ship it", "--gate", "acc >= 0.95")
    assert done.returncode == 2 and "acc >= 0.95: 0.9 (FAILED" in done.stderr
    done = transition("--no-verify", "--reason", "ship it", "--gate", "acc >= 0.8")
    assert done.returncode == 0, done.stderr
    from jupyter_mlops import open_store

    with open_store(tmp_path) as store:
        moved = store.events("demo-model/1")[0]
    assert moved.detail["gate"]["expression"] == "acc >= 0.8" and moved.reason == "ship it"
    assert moved.detail["verification"] == "skipped (verify=False)"


@pytest.mark.parametrize("args", [
    ["transition", "demo-model", "9" * 30, "staging"], ["delete-version", "demo-model", "9" * 30,
                                                        "--reason", "x"],
    ["export", "demo-model/" + "9" * 30, "out"], ["transition", "demo-model", "0", "staging"],
])
def test_huge_version_numbers_are_one_line_errors(tmp_path: Path, args: list[str]) -> None:
    seed(tmp_path)
    done = subprocess.run([*CLI, "--store", str(tmp_path), *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "version" in done.stderr and len(done.stderr.strip().splitlines()) == 1


START = json.dumps({"_event": "start", "_arms": {"champion": {"run_id": "a"},
                                                "challenger": {"run_id": "b"}}})
ROW = {"_ts": 1, "_request_id": "r1", "_row": 0, "_arm": "champion", "_prediction": 1,
       "_answered": True, "_latency_ms": 3.0, "x": 1}
HOSTILE_LOG_LINES = {
    "a number": "5", "a string": '"_event"', "a list": "[1, 2]",
    "nested deeply": "[" * 100_000 + "]" * 100_000,
    "an object nested deeply": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "too long": json.dumps({**ROW, "x": "a" * (MAX_JSONL_LINE + 10)}),
    "an arm that is a list": json.dumps({**ROW, "_arm": [1]}),
    "a latency that is text": json.dumps({**ROW, "_latency_ms": "slow"}),
    "a status that is text": json.dumps({**ROW, "_error": "boom", "_status": "bad"}),
    "a request id that is an object": json.dumps({**ROW, "_request_id": {"a": 1}}),
}


@pytest.mark.parametrize("line", list(HOSTILE_LOG_LINES.values()), ids=list(HOSTILE_LOG_LINES))
def test_a_hostile_serving_log_line_is_named_by_monitor_and_the_rollout_report(
        tmp_path: Path, line: str) -> None:
    from jupyter_mlops.data.tables import read_table
    from jupyter_mlops.errors import MLOpsError
    from jupyter_mlops.lifecycle.operations import split_log
    from jupyter_mlops.lifecycle.rollout import rollout_report

    log = tmp_path / "requests.jsonl"
    log.write_text(f"{START}\n{line}\n{json.dumps({**ROW, '_request_id': 'r2'})}\n")
    with pytest.raises(MLOpsError, match="requests.jsonl line 2"):
        rollout_report(log)
    with pytest.raises((ValueError, MLOpsError), match="requests.jsonl|line 2"):
        split_log(read_table(log, squeeze=False))


def test_a_serving_log_over_the_size_limit_is_refused_unread(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    from jupyter_mlops.data import tables
    from jupyter_mlops.errors import MLOpsError
    from jupyter_mlops.lifecycle.rollout import rollout_report

    log = tmp_path / "requests.jsonl"
    log.write_text(START + "\n" + "\n".join(json.dumps({**ROW, "_request_id": f"r{i}"})
                                            for i in range(100)) + "\n")
    monkeypatch.setattr(tables, "MAX_JSONL_BYTES", 1000)
    with pytest.raises(MLOpsError, match="larger than 1000 bytes"):
        rollout_report(log)
    with pytest.raises(ValueError, match="larger than 1000 bytes"):
        tables.read_table(log)



@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_file_has_a_size_limit_and_must_be_a_regular_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    """The batches ``monitor``, ``watch`` and the CLI read: a FIFO named ``batch.csv`` would
    block the reader for good, a huge file would fill the memory."""
    import os

    from jupyter_mlops.data import tables

    big = tmp_path / f"big{suffix}"
    big.write_bytes(b"x\n" + b"1.0\n" * 500)  # refused by its size, before any parsing
    monkeypatch.setattr(tables, "MAX_TABLE_BYTES", 100)
    with pytest.raises(ValueError, match="larger than 100 bytes"):
        tables.read_table(big)
    fifo = tmp_path / f"stuck{suffix}"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        tables.read_table(fifo)


@pytest.mark.parametrize("name", ["team\n", "model\n", "prod\n"])
def test_a_name_with_a_trailing_newline_is_refused(tmp_path: Path, name: str) -> None:
    """``$`` matches before a final newline: names are matched whole."""
    from jupyter_mlops import open_store
    from jupyter_mlops.store.approvals import Policy, set_group
    from jupyter_mlops.store.registry import check_name

    with pytest.raises(ValueError, match="invalid model name"):
        check_name(name)
    with pytest.raises(ValueError, match="invalid stage"):
        Policy(name)
    with open_store(tmp_path, create=True) as store, pytest.raises(ValueError,
                                                                   match="invalid group"):
        set_group(store, name, ["bob"], actor="test")


def test_a_rollout_log_that_is_no_regular_file_is_refused_unopened(tmp_path: Path) -> None:
    """A gate reaching the server names its log: a FIFO (or /dev/stdin) would block the
    worker for good."""
    import os

    from jupyter_mlops.errors import MLOpsError
    from jupyter_mlops.lifecycle.rollout import parse_rollout, rollout_report

    fifo = tmp_path / "requests.jsonl"
    os.mkfifo(fifo)
    rule = parse_rollout(f"rollout(log={str(fifo)!r})")
    assert rule is not None and rule.log == str(fifo)
    with pytest.raises(MLOpsError, match="is not a regular file"):
        rollout_report(rule.log)


@pytest.mark.parametrize("limit", [float("nan"), -1.0, float("inf"), "x", True])
def test_an_operational_threshold_is_a_finite_number_at_least_0(limit: object) -> None:
    """NaN would silence the alert for good (no number passes it), -1 fire it always."""
    import pandas as pd

    from jupyter_mlops.errors import MLOpsError
    from jupyter_mlops.lifecycle.operations import breaches, operations

    figures = operations(pd.DataFrame({"_ts": [1.0], "_prediction": [1], "_latency_ms": [5.0]}))
    with pytest.raises(MLOpsError, match="latency_p99_ms takes a number ≥ 0"):
        breaches(figures, {"latency_p99_ms": limit})  # type: ignore[dict-item]


def test_monitor_reads_a_serving_log_whose_last_line_a_crash_cut(tmp_path: Path) -> None:
    """A server killed mid-write leaves half a line: the rest of the log still counts (as
    the rollout report reads it); half a line before the end is no log of ours."""
    from jupyter_mlops.data.tables import read_table
    from jupyter_mlops.lifecycle.operations import split_log

    rows = "".join(json.dumps({**ROW, "_request_id": f"r{i}"}) + "\n" for i in range(3))
    log = tmp_path / "requests.jsonl"
    log.write_text(rows + '{"_ts": 2, "_request_id": "r3", "_predi')
    features, figures = split_log(read_table(log, squeeze=False))
    assert len(features) == 3 and figures is not None and figures["requests"].sum() == 3
    log.write_text('{"_ts": 2, "_predi\n' + rows)
    with pytest.raises(ValueError, match="requests.jsonl"):
        read_table(log, squeeze=False)


def shadow_log(path: Path, requests: int = 20) -> Path:
    """A shadow rollout's log: both arms score every request of one row."""
    lines = [START] + [json.dumps({**ROW, "_request_id": f"r{i}", "_arm": arm, "_mode": "shadow",
                                   "_prediction": i % 2, "_answered": arm == "champion"})
                       for i in range(requests) for arm in ("champion", "challenger")]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("labels", "says"), [
    # one request labelled twenty times would count as twenty paired rows
    ({"request_id": ["r1"] * 20, "row": [0] * 20, "label": [0, 1] * 10},
     "labels give request 'r1' row 0 more than once"),
    ({"request_id": ["r1", "r2"], "row": ["zero", "one"], "label": [0, 1]},
     "labels' row column takes whole numbers"),
    ({"request_id": ["r1", "r2"], "row": [0.5, 1], "label": [0, 1]},
     "labels' row column takes whole numbers"),
])
def test_labels_that_would_miscount_a_rollout_are_refused(tmp_path: Path, labels: dict,
                                                          says: str) -> None:
    import pandas as pd

    from jupyter_mlops.lifecycle.rollout import rollout_report

    with pytest.raises(ValueError, match=says):
        rollout_report(shadow_log(tmp_path / "requests.jsonl"), pd.DataFrame(labels))


def test_the_report_of_a_rollout_log_file_needs_no_store(tmp_path: Path) -> None:
    """A log copied off a server is read where it is, without a store around it."""
    import os

    log = shadow_log(tmp_path / "requests.jsonl")
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_MLOPS_STORE"}
    done = subprocess.run([*CLI, "rollout", str(log)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "champion" in done.stdout and not (tmp_path / ".mlops").exists()
