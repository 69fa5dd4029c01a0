"""Finding the store like git finds .git."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mlops import open_store
from jupyter_mlops.errors import StoreError, StoreNotFoundError
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


def test_open_without_create_refuses_a_missing_store(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "store"
    with pytest.raises(StoreNotFoundError, match="no jupyter-mlops store at .*no lineage.db"):
        open_store(missing, create=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreNotFoundError):
        open_store(tmp_path / "empty", create=False)
    assert list((tmp_path / "empty").iterdir()) == []


def test_open_without_create_opens_an_existing_store(tmp_path: Path) -> None:
    open_store(tmp_path / "s").close()
    with open_store(tmp_path / "s", create=False) as store:
        assert store.count_runs() == 0
    with open_store(tmp_path / "s" / "lineage.db", create=False) as store:
        assert store.directory == tmp_path / "s"


def test_missing_store_says_where_it_looked(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreNotFoundError, match="no .mlops/ in .* or above") as found:
        open_store(create=False)
    assert found.value.origin == "discovered"
    (tmp_path / ".mlops").mkdir()
    with pytest.raises(StoreNotFoundError, match="the nearest .mlops/"):
        open_store(create=False)
    monkeypatch.setenv("JUPYTER_MLOPS_STORE", str(tmp_path / "env"))
    with pytest.raises(StoreNotFoundError, match=r"where \$JUPYTER_MLOPS_STORE points"):
        open_store(create=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mlops"]


@pytest.mark.parametrize("create", [True, False])
def test_a_file_is_not_a_store_directory(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("x")
    with pytest.raises(StoreError, match="notes.txt is a file, not a store directory"):
        open_store(path, create=create)
    with pytest.raises(StoreError, match="notes.txt is a file, not a store directory"):
        open_store(path / "inside", create=create)
    assert path.read_text() == "x"


def test_open_creates_a_store_by_default(tmp_path: Path) -> None:
    open_store(tmp_path / "new" / "store").close()
    assert (tmp_path / "new" / "store" / "lineage.db").is_file()
