"""Finding the store like git finds .git."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mlops.store import find_store_dir


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUPYTER_MLOPS_STORE", raising=False)


def test_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "elsewhere"))
    (tmp_path / ".mlops").mkdir()
    assert find_store_dir(tmp_path) == tmp_path / "elsewhere"


def test_nearest_mlops_upwards(tmp_path: Path) -> None:
    (tmp_path / ".mlops").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "a" / ".git").mkdir()
    assert find_store_dir(deep) == tmp_path / ".mlops"


def test_git_root_when_no_store_exists(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    deep = tmp_path / "notebooks" / "exp"
    deep.mkdir(parents=True)
    assert find_store_dir(deep) == tmp_path / ".mlops"


def test_working_directory_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_store_dir() == tmp_path / ".mlops"
