"""Nothing is deleted that jupyter-mlops did not create: export targets, failed commands that
must create nothing, and a truncated (0-byte) database that must not be re-initialised."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import Shell

import jupyter_mlops as mlops
from jupyter_mlops.bundle import target
from jupyter_mlops.bundle.serve import RequestLog
from jupyter_mlops.errors import EmptyStoreError, StoreNotFoundError

DATA = """import pandas as pd
X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
y = pd.Series([0, 0, 0, 1, 1, 1])
"""
TRAIN = """%%track tiny
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit(X, y)
"""


def cli(*args: str, cwd: Path, store: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_MLOPS_STORE"}
    if store is not None:
        env["JUPYTER_MLOPS_STORE"] = str(store)
    return subprocess.run([sys.executable, "-m", "jupyter_mlops.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(shell: Shell, tmp_path: Path) -> Path:
    """A project folder (the working directory) with a notebook, its .mlops/ and a run."""
    assert shell.run(DATA).result.success
    assert shell.run(TRAIN).result.success
    (tmp_path / "analysis.ipynb").write_text("{}")
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``; a database by name only (a checkpoint rewrites it)."""
    return {str(p.relative_to(folder)): b"" if "lineage.db" in p.name else p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", [".", "STORE", "..", "HOME"])
def test_overwrite_never_replaces_the_project_the_store_or_their_parents(
        project: Path, store_dir: Path, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    home = project / "home"
    home.mkdir()
    (home / ".bashrc").write_text("mine")
    monkeypatch.setenv("HOME", str(home))  # the home directory is protected too
    target = {"STORE": str(store_dir), "HOME": "home"}.get(where, where)
    before = snapshot(project)
    done = cli("export", "tiny", target, "--overwrite", cwd=project, store=store_dir)
    assert done.returncode == 2, done.stderr
    assert "refusing to write a bundle" in done.stderr and "Traceback" not in done.stderr
    assert snapshot(project) == before


def test_overwrite_replaces_only_a_previous_bundle(project: Path, store_dir: Path) -> None:
    mine = project / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    done = cli("export", "tiny", "mine", "--overwrite", cwd=project, store=store_dir)
    assert done.returncode == 2 and "not a jupyter-mlops bundle" in done.stderr
    assert (mine / "notes.txt").read_text() == "keep"
    # A folder whose MANIFEST.json is not ours is not a bundle either.
    (mine / "MANIFEST.json").write_text(json.dumps({"format": "something-else"}))
    assert cli("export", "tiny", "mine", "--overwrite", cwd=project,
               store=store_dir).returncode == 2
    assert (mine / "notes.txt").read_text() == "keep"
    promoted = cli("promote", "tiny", "--name", "tiny", "--stage", "staging", cwd=project,
                   store=store_dir)
    assert promoted.returncode == 0, promoted.stderr
    first = cli("export", "tiny@staging", "bundle", cwd=project, store=store_dir)
    assert first.returncode == 0, first.stderr
    # The bundle carries the audit chain's head (create-model, register, transition).
    lineage = json.loads((project / "bundle" / "lineage.json").read_text())
    assert lineage["audit_head"]["seq"] == 3
    assert cli("doctor", "--bundle", "bundle", cwd=project, store=store_dir).returncode == 0
    again = cli("export", "tiny", "bundle", "--overwrite", cwd=project, store=store_dir)
    assert again.returncode == 0, again.stderr
    assert mlops.load_bundle(project / "bundle").predict([{"a": 1.0, "b": 0.0}]).shape == (1,)
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".")) == []


def test_a_target_that_is_a_file_is_a_clear_error(project: Path, store_dir: Path) -> None:
    (project / "model.txt").write_text("not a folder")
    done = cli("export", "tiny", "model.txt", "--overwrite", cwd=project, store=store_dir)
    assert done.returncode == 2 and "is a file" in done.stderr
    assert "Traceback" not in done.stderr
    assert (project / "model.txt").read_text() == "not a folder"


def test_zip_is_not_overwritten_without_overwrite(project: Path, store_dir: Path) -> None:
    (project / "out.zip").write_bytes(b"my own archive")
    done = cli("export", "tiny", "out", "--zip", cwd=project, store=store_dir)
    assert done.returncode == 2 and "out.zip already exists" in done.stderr
    assert not (project / "out").exists()
    assert cli("export", "tiny", "out", "--zip", "--overwrite", cwd=project,
               store=store_dir).returncode == 2  # not a bundle .zip: never replaced
    assert (project / "out.zip").read_bytes() == b"my own archive"
    (project / "out.zip").unlink()
    assert cli("export", "tiny", "out", "--zip", cwd=project, store=store_dir).returncode == 0
    assert cli("export", "tiny", "out", "--zip", "--overwrite", cwd=project,
               store=store_dir).returncode == 0
    assert "MANIFEST.json" in zipfile.ZipFile(project / "out.zip").namelist()


def test_a_failed_replacement_leaves_the_old_bundle(project: Path, shell: Shell,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = mlops.export_bundle("tiny", project / "b", store=shell.store())
    before = snapshot(bundle)
    with pytest.raises(Exception, match="no run"):
        mlops.export_bundle("no-such-run", bundle, overwrite=True, store=shell.store())
    assert snapshot(bundle) == before
    # A failure while moving the new bundle in (e.g. EXDEV, ENOSPC; root ignores permissions,
    # so the fault is injected at the rename) puts the old one back.
    real_replace = os.replace

    def failing_replace(src: object, dst: object) -> None:
        if Path(str(src)).name.startswith(".bundle-"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(target.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        mlops.export_bundle("tiny", bundle, overwrite=True, store=shell.store())
    assert snapshot(bundle) == before
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []


def test_failed_commands_create_no_store(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_MLOPS_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    for call in (lambda: mlops.export_bundle("nothing", tmp_path / "b"),
                 lambda: mlops.promote("nothing", name="m"),
                 lambda: mlops.transition("m", 1, "production")):
        with pytest.raises(StoreNotFoundError):
            call()
    done = cli("export", "nothing", "b", cwd=tmp_path)
    assert done.returncode == 1
    assert list(tmp_path.iterdir()) == []


def test_a_zero_byte_database_is_refused_not_reinitialised(store_dir: Path,
                                                           tmp_path: Path) -> None:
    with mlops.open_store(store_dir):
        pass
    (store_dir / "lineage.db").write_bytes(b"")
    (store_dir / "lineage.db-wal").write_bytes(b"frames that may hold the runs")
    with pytest.raises(EmptyStoreError, match="0 bytes"):
        mlops.open_store(store_dir)
    done = cli("doctor", cwd=tmp_path, store=store_dir)
    assert done.returncode == 1 and "recover" in done.stdout and "backup" in done.stdout
    assert (store_dir / "lineage.db").stat().st_size == 0
    assert (store_dir / "lineage.db-wal").read_bytes() == b"frames that may hold the runs"


def test_the_request_log_never_appends_to_or_rotates_away_a_file_of_yours(
        project: Path, shell: Shell) -> None:
    bundle = mlops.export_bundle("tiny", project / "b", store=shell.store())
    notebook = project / "analysis.ipynb"
    done = subprocess.run([sys.executable, str(bundle / "serve.py"), "--port", "1",
                           "--log-requests", str(notebook)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "not a request log of ours" in done.stderr
    assert notebook.read_text() == "{}"
    (project / "requests.jsonl.2").write_text("my data, not a log\n")  # rotation would replace
    with pytest.raises(ValueError, match="requests.jsonl.2 exists"):
        RequestLog(project / "requests.jsonl", keep=2)
    log = RequestLog(project / "fresh.jsonl", max_bytes=200, keep=2)
    for _ in range(4):
        log.write(pd.DataFrame({"a": [1.0, 2.0]}), [0, 1])
    RequestLog(project / "fresh.jsonl", keep=2)  # its own rotated logs are fine


@pytest.mark.parametrize("where", ["STORE/bundle", "STORE/artifacts/x", "STORE"])
def test_no_bundle_is_ever_written_inside_the_store(project: Path, store_dir: Path,
                                                    where: str) -> None:
    target = where.replace("STORE", str(store_dir))
    before = snapshot(store_dir)
    done = cli("export", "tiny", target, cwd=project, store=store_dir)
    assert done.returncode == 2 and "refusing to write a bundle" in done.stderr, done.stderr
    assert f"{store_dir}/" not in done.stderr.split("e.g.")[-1]  # the suggestion is outside
    assert snapshot(store_dir) == before


def test_overwrite_keeps_files_a_bundle_manifest_does_not_list(project: Path,
                                                               store_dir: Path) -> None:
    forged = project / "data"
    (forged / "data").mkdir(parents=True)
    (forged / "data" / "train.csv").write_text("a,b\n1,2\n")
    (forged / "MANIFEST.json").write_text(json.dumps({"format": "jupyter-mlops-bundle"}))
    done = cli("export", "tiny", "data", "--overwrite", cwd=project, store=store_dir)
    assert done.returncode == 2 and "data/train.csv" in done.stderr, done.stderr
    assert (forged / "data" / "train.csv").read_text() == "a,b\n1,2\n"
    assert cli("export", "tiny", "bundle", "--zip", cwd=project, store=store_dir).returncode == 0
    checked = cli("doctor", "--bundle", "bundle.zip", cwd=project, store=store_dir)
    assert checked.returncode == 0, checked.stdout  # a .zip bundle is checkable as it is
    (project / "bundle" / "notes.txt").write_text("mine")
    (project / "bundle" / "results").mkdir()
    (project / "bundle" / "results" / "auc.txt").write_text("0.9")
    done = cli("export", "tiny", "bundle", "--overwrite", cwd=project, store=store_dir)
    assert done.returncode == 2, done.stderr
    assert "notes.txt" in done.stderr and "results/auc.txt" in done.stderr
    assert (project / "bundle" / "notes.txt").read_text() == "mine"
    (project / "bundle" / "notes.txt").unlink()
    (project / "bundle" / "results" / "auc.txt").unlink()
    done = cli("export", "tiny", "bundle", "--overwrite", cwd=project, store=store_dir)
    assert done.returncode == 2 and "results/" in done.stderr  # an empty folder of theirs too
    (project / "bundle" / "results").rmdir()
    assert cli("export", "tiny", "bundle", "--overwrite", cwd=project,
               store=store_dir).returncode == 0
    with zipfile.ZipFile(project / "bundle.zip", "a") as archive:
        archive.writestr("notes.txt", "mine")
    done = cli("export", "tiny", "bundle", "--zip", "--overwrite", cwd=project, store=store_dir)
    assert done.returncode == 2 and "notes.txt" in done.stderr, done.stderr
    assert "notes.txt" in zipfile.ZipFile(project / "bundle.zip").namelist()
