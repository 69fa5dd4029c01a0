"""The jupyter-mlops command line, run as a user runs it."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyter_mlops import open_store
from jupyter_mlops.cli import _parser, main
from jupyter_mlops.store import RunResult, Store
from jupyter_mlops.store.audit import append_event

CLI = [sys.executable, "-m", "jupyter_mlops.cli"]


def cli(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--store", str(store), *args], capture_output=True, text=True)


def seeded(tmp_path: Path) -> Path:
    with open_store(tmp_path) as store:
        store.start_run("01CLI", name="cli-run", experiment="e", source="x = 1",
                        source_hash="h", started_at=time.time())
        store.finish_run("01CLI", RunResult(status="finished", ended_at=time.time(),
                                            params={"C": 1}, metrics=[("acc", 0.9, 0, 1.0)]))
    return tmp_path


def test_runs_show_lineage(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    listing = cli("runs", store=store)
    assert listing.returncode == 0 and "cli-run" in listing.stdout and "acc" in listing.stdout
    shown = cli("show", "cli-run", store=store)
    assert shown.returncode == 0 and "C = 1" in shown.stdout
    assert cli("lineage", "01CLI", store=store).returncode == 0


def test_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    done = cli("show", "nope", store=seeded(tmp_path))
    assert done.returncode == 2 and "no run 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


def test_doctor_reports_problems_with_exit_code(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    assert cli("doctor", store=store).returncode == 0
    with open_store(store) as opened:
        sha = opened.put_artifact(b"model bytes")
        opened.artifacts.path(sha).write_bytes(b"changed")
    done = cli("doctor", store=store)
    assert done.returncode == 1 and "no longer matches" in done.stdout


def test_corrupt_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "lineage.db").write_bytes(b"nonsense" * 100)
    done = cli("runs", store=tmp_path)
    assert done.returncode == 2 and "not a readable jupyter-mlops store" in done.stderr


def test_jupyter_subcommand_is_installed() -> None:
    bindir = Path(sys.executable).parent
    done = subprocess.run([str(bindir / "jupyter"), "mlops", "--help"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and "doctor" in done.stdout


# -- helpers for the tests below: main() in-process on a real store ------------------------

def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def add_run(store: Store, run_id: str, *, experiment: str = "e", metrics: dict[str, float],
            params: dict[str, object] | None = None, started: float = 0.0) -> None:
    store.start_run(run_id, name=run_id.lower(), experiment=experiment, source="x = 1",
                    source_hash="h", started_at=started or time.time())
    store.finish_run(run_id, RunResult(
        status="finished", ended_at=time.time(), params=params or {},
        metrics=[(key, value, 0, 1.0) for key, value in metrics.items()]))


def scored(tmp_path: Path) -> Path:
    """Two runs with six metrics each (roc_auc sorts last by name) and a param C."""
    with open_store(tmp_path) as store:
        names = ["accuracy", "f1", "log_loss", "precision", "recall", "roc_auc"]
        add_run(store, "01GOOD", metrics=dict.fromkeys(names, 0.9) | {"roc_auc": 0.95,
                "log_loss": 0.1}, params={"C": 1.0}, started=1000.0)
        add_run(store, "01POOR", metrics=dict.fromkeys(names, 0.6) | {"roc_auc": 0.61,
                "log_loss": 0.7}, params={"C": 0.1}, started=2000.0)
    return tmp_path


COMMANDS_ON_RECORDS = [["runs"], ["show", "r"], ["lineage", "r"], ["models"], ["events"],
                       ["doctor"], ["export", "m@production", "out"],
                       ["monitor", "m", "--history"], ["transition", "m", "1", "staging"],
                       ["promote", "r", "--name", "m"], ["retrain", "r"],
                       ["delete-version", "m", "1", "--reason", "x"]]


@pytest.mark.parametrize("command", COMMANDS_ON_RECORDS, ids=lambda c: " ".join(c))
def test_commands_on_existing_records_never_create_a_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    # Given a mistyped --store, when a command that needs existing runs or versions runs,
    missing = tmp_path / "nonexist" / "xx"
    code, out, err = run_cli(capsys, "--store", str(missing), *command)
    # then it exits 1 with one line naming the path, and creates nothing.
    assert code == 1 and out == ""
    assert err == (f"jupyter-mlops: no jupyter-mlops store at {missing} (it has no lineage.db);"
                   " check --store, or run a tracked cell first\n")
    assert list(tmp_path.iterdir()) == []


def test_read_only_command_with_store_from_the_environment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "typo"))
    code, _, err = run_cli(capsys, "runs")
    assert code == 1 and "$JUPYTER_MLOPS_STORE" in err and "no lineage.db" in err
    assert list(tmp_path.iterdir()) == []


def test_read_only_command_without_any_store_found(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_MLOPS_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "models")
    assert code == 1 and "no jupyter-mlops store found" in err
    assert list(tmp_path.iterdir()) == []


def test_monitoring_still_creates_its_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "batch.csv").write_text("a\n1\n")
    code, _, err = run_cli(capsys, "--store", str(tmp_path / "new"), "monitor", "m@production",
                           str(tmp_path / "batch.csv"))
    assert code == 2 and "no jupyter-mlops store" not in err
    assert (tmp_path / "new" / "lineage.db").is_file()


@pytest.mark.parametrize("command", [["runs"], ["transition", "m", "1", "staging"]])
def test_store_path_that_is_a_file_is_said_plainly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a store")
    code, _, err = run_cli(capsys, "--store", str(path), *command)
    assert code != 0 and f"{path} is a file, not a store directory" in err
    assert "File exists" not in err and "writable" not in err
    assert path.read_text() == "not a store"


def test_runs_in_an_unknown_experiment_names_the_experiments(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(seeded(tmp_path))
    code, out, _ = run_cli(capsys, "--store", store, "runs", "-e", "nope")
    assert code == 0 and out == "no runs in experiment 'nope'; the experiments are: e\n"
    code, out, _ = run_cli(capsys, "--store", store, "runs", "--status", "failed")
    assert "no failed runs" in out and "%%track" not in out


def test_runs_of_an_empty_store_say_how_to_record_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_store(tmp_path).close()
    code, out, _ = run_cli(capsys, "--store", str(tmp_path), "runs")
    assert code == 0 and "no runs yet" in out and "%%track" in out


def test_events_of_an_unknown_subject(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    store = str(seeded(tmp_path))
    code, out, _ = run_cli(capsys, "--store", store, "events", "nope")
    assert code == 0 and out == "no events for 'nope': the audit log is empty\n"
    with open_store(store) as opened, opened.transaction() as conn:
        append_event(conn, actor="me", action="create-model", subject="fraud")
        append_event(conn, actor="me", action="register", subject="fraud/1")
    code, out, _ = run_cli(capsys, "--store", store, "events", "nope")
    assert "no events for 'nope'" in out and "fraud" in out and "empty" not in out
    code, out, _ = run_cli(capsys, "--store", store, "events")
    assert "me register     fraud/1" in out and "me create-model fraud" in out


@pytest.mark.parametrize("key", ["metrics.nope", "metrics.rmse asc", "params.nope", "size",
                                 "roc_auc"])
def test_unknown_sort_key_names_the_keys_that_exist(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str) -> None:
    code, out, err = run_cli(capsys, "--store", str(scored(tmp_path)), "runs", "--sort", key)
    assert code == 2 and out == ""
    assert f"cannot sort runs by {key!r}" in err and "Traceback" not in err
    assert "roc_auc" in err and "C" in err.split("params:")[1] and "started_at" in err


def test_sort_hints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(scored(tmp_path))
    _, _, err = run_cli(capsys, "--store", store, "runs", "--sort", "metrics.rmse asc")
    assert "--sort metrics.rmse --asc" in err
    _, _, err = run_cli(capsys, "--store", store, "runs", "--sort", "roc_auc")
    assert "did you mean metrics.roc_auc?" in err


def run_ids(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines()[1:] if line.startswith("01")]


def test_sort_by_metric_descending_or_ascending(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(scored(tmp_path))
    _, out, _ = run_cli(capsys, "--store", store, "runs", "--sort", "metrics.log_loss")
    assert run_ids(out) == ["01POOR", "01GOOD"]
    _, out, _ = run_cli(capsys, "--store", store, "runs", "--sort", "metrics.log_loss", "--asc")
    assert run_ids(out) == ["01GOOD", "01POOR"]
    _, out, _ = run_cli(capsys, "--store", store, "runs", "--sort", "params.C", "--asc")
    assert run_ids(out) == ["01POOR", "01GOOD"]


def test_sort_metric_is_shown_first_and_hidden_columns_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(scored(tmp_path))
    _, out, _ = run_cli(capsys, "--store", store, "runs")
    header, *_, footer = out.splitlines()
    assert header.split()[6:] == ["accuracy", "f1", "log_loss", "precision"]
    assert footer.startswith("not shown: metrics recall, roc_auc; 1 params (C)")
    assert "--columns" in footer
    _, out, _ = run_cli(capsys, "--store", store, "runs", "--sort", "metrics.roc_auc")
    header = out.splitlines()[0]
    assert header.split()[6:] == ["roc_auc", "accuracy", "f1", "log_loss"]
    assert "0.95" in out.splitlines()[1]


def test_columns_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(scored(tmp_path))
    code, out, _ = run_cli(capsys, "--store", store, "runs", "--columns",
                           "metrics.roc_auc,params.C")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[6:] == ["roc_auc", "params.C"] and len(lines) == 3
    code, _, err = run_cli(capsys, "--store", store, "runs", "--columns", "metrics.nope")
    assert code == 2 and "cannot show column 'metrics.nope'" in err and "roc_auc" in err


def test_store_option_after_the_command(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    done = subprocess.run([*CLI, "runs", "--store", str(store)], capture_output=True, text=True)
    assert done.returncode == 0 and "cli-run" in done.stdout
    elsewhere = tmp_path / "elsewhere"
    done = subprocess.run([*CLI, "--store", str(elsewhere), "show", "cli-run", "--store",
                           str(store)], capture_output=True, text=True)
    assert done.returncode == 0 and "C = 1" in done.stdout
    assert not elsewhere.exists()


def test_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    with open_store(store) as opened, opened.transaction() as conn:
        append_event(conn, actor="me", action="create-model", subject="fraud")
    for args in (["events"], ["runs"]):
        read, write = os.pipe()
        os.close(read)  # like `| head` that has already exited
        try:
            done = subprocess.run([*CLI, "--store", str(store), *args], stdout=write,
                                  stderr=subprocess.PIPE, text=True)
        finally:
            os.close(write)
        assert done.stderr == "" and done.returncode == 1


def test_monitor_history_and_missing_batch(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    store = str(seeded(tmp_path))
    code, out, _ = run_cli(capsys, "--store", store, "monitor", "cli-run", "--history")
    assert code == 0 and "no monitoring batches for 'cli-run'" in out
    code, _, err = run_cli(capsys, "--store", store, "monitor", "cli-run")
    assert code == 2 and "give the batch file" in err


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_has_help() -> None:
    parser = _parser()
    assert "registry" in (parser.description or "") and "retrain" in (parser.description or "")
    for name, sub in subcommands().items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    watch = subcommands()["watch"]
    every = next(a for a in watch._actions if "--every" in a.option_strings)
    assert "60" in (every.help or "")


def test_the_magic_and_the_cli_take_the_same_arguments() -> None:
    from jupyter_mlops.commands.arguments import commands_of
    from jupyter_mlops.commands.fronts import notebook
    from jupyter_mlops.magics.mlops import _parser as magic_parser

    def options(parser: argparse.ArgumentParser) -> set[str]:
        return {a.option_strings[-1] if a.option_strings else a.metavar or a.dest
                for a in parser._actions} - {"--help", "--store"}

    front = notebook({})
    magic = commands_of(front)
    shared = set(subcommands()) & set(magic)
    assert {"promote", "transition", "export", "retrain", "monitor", "runs"} <= shared
    differ = {name: (options(subcommands()[name]) ^ options(magic_parser(name, magic[name],
                                                                         front)))
              for name in shared}
    # what only one front end has: the CLI's table columns and JSON, the magic's DataFrame
    assert {k: v for k, v in differ.items() if v} == {"runs": {"--columns", "--frame"},
                                                      "monitor": {"--json"}}


def test_readme_documents_every_command_and_option() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = " ".join(readme.split("## Command line", 1)[1].split("\n## ", 1)[0].split())
    for name, sub in subcommands().items():
        assert f"`{name}" in section, name
        for action in sub._actions:
            options = [o for o in action.option_strings if o not in ("-h", "--help", "--store")]
            if options:  # -e or --experiment: either spelling documents it
                assert any(re.search(rf"(?<![\w-]){o}(?![\w-])", section) for o in options), \
                    f"{name} {options}"
    assert "--store" in section and "before or after" in section


def test_a_one_column_batch_stays_a_frame_and_a_target_file_a_series(tmp_path: Path) -> None:
    from jupyter_mlops.data.tables import read_table

    (tmp_path / "one.csv").write_text("age\n30\n40\n")
    assert list(read_table(tmp_path / "one.csv", squeeze=False).columns) == ["age"]
    assert read_table(tmp_path / "one.csv").tolist() == [30, 40]


def test_show_of_an_ambiguous_prefix_says_so(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        for run_id in ("01M8AAA", "01M8BBB", "01M8CCC"):
            store.start_run(run_id, name="r", experiment="e", source="x = 1",
                            source_hash="h", started_at=time.time())
    done = cli("show", "01m8", store=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == ("jupyter-mlops: ambiguous: '01m8' matches 3 runs (01M8AAA, 01M8BBB, "
                           "01M8CCC); give more characters of the run id\n")


def test_events_columns_line_up_whatever_the_actor(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    with open_store(store) as opened, opened.transaction() as conn:
        append_event(conn, actor="ci", action="create-model", subject="wine")
        append_event(conn, actor="a-much-longer-user", action="promotion-refused",
                     subject="wine", reason="gate")
        append_event(conn, actor="me", action="register", subject="wine/1")
    lines = cli("events", "wine", store=store).stdout.splitlines()
    assert len(lines) == 3
    starts = {line.index(" wine") for line in lines}
    assert len(starts) == 1, lines  # the subject column starts at the same place on every line
    assert len({line.index(action) for line, action in
                zip(lines, ["register", "promotion-refused", "create-model"], strict=True)}) == 1


def test_tag_note_archive_restore_and_delete_from_the_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = seeded(tmp_path)
    code, out, _ = run_cli(capsys, "--store", str(store), "tag", "cli-run", "owner=alice",
                           "stage=draft")
    assert code == 0 and out.strip() == "run cli-run (01CLI): tags owner=alice, stage=draft"
    code, out, _ = run_cli(capsys, "--store", str(store), "tag", "01CLI", "--remove", "stage")
    assert out.strip() == "run cli-run (01CLI): tags owner=alice"
    code, out, _ = run_cli(capsys, "--store", str(store), "note", "01CLI", "two words")
    assert out.strip() == "run cli-run (01CLI): note saved (9 characters)"
    code, out, _ = run_cli(capsys, "--store", str(store), "archive", "01CLI")
    assert code == 0 and out.startswith("archived 1 run(s): cli-run (01CLI)")
    code, out, _ = run_cli(capsys, "--store", str(store), "runs")
    assert "cli-run" not in out and "--archived include" in out
    code, out, _ = run_cli(capsys, "--store", str(store), "runs", "--archived", "include")
    assert "cli-run" in out
    code, out, _ = run_cli(capsys, "--store", str(store), "restore", "01CLI", "01CLI")
    assert out.strip() == "restored 1 run(s): cli-run (01CLI)"
    code, _, err = run_cli(capsys, "--store", str(store), "delete", "01CLI")
    assert code == 2 and "would delete the records of cli-run (01CLI)" in err
    code, _, err = run_cli(capsys, "--store", str(store), "delete", "cli-run", "--yes")
    assert code == 2 and "delete takes run ids" in err
    code, out, _ = run_cli(capsys, "--store", str(store), "delete", "01CLI", "--yes")
    assert code == 0 and out.startswith("deleted 1 run(s): cli-run (01CLI)")
    code, out, _ = run_cli(capsys, "--store", str(store), "events", "run:01CLI")
    assert [line.split()[4] for line in out.splitlines()] == [
        "delete-run", "restore", "archive", "note", "tag", "tag"]


@pytest.mark.parametrize("args, message", [
    (["tag", "01CLI"], "name a tag to set or to remove"),
    (["tag", "01CLI", "owner"], "a tag is K=V"),
    (["tag", "01CLI", "1st=x"], "invalid tag key '1st'"),
    (["note", "01CLI", "x" * 10_001], "at most 10000"),
    (["archive", "01NOPE"], "no run '01NOPE'"),
])
def test_tidying_mistakes_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              args: list[str], message: str) -> None:
    store = seeded(tmp_path)
    code, _, err = run_cli(capsys, "--store", str(store), *args)
    assert code == 2 and message in err and "Traceback" not in err
