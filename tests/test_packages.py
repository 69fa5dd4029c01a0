"""The distributions behind a run's modules: the same answer as
``importlib.metadata.packages_distributions()``, without reading every distribution."""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mlops.capture import environment, packages

# a typical cell's modules: same and differing distribution names, a namespace package,
# standard library, unknown
CELL_MODULES = ["numpy", "pandas", "sklearn", "scipy", "xgboost", "lightgbm", "PIL", "yaml",
                "google", "mpl_toolkits", "json", "no_such_module", "jupyter_mlops"]


def clear_caches() -> None:
    for cached in (packages._index, packages._all_providers, packages.providers):
        cached.cache_clear()


@pytest.fixture(autouse=True)
def fresh_index() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def old_package_versions(modules: list[str]) -> dict[str, str]:
    """What the recorder stored before: every distribution indexed up front."""
    mapping = metadata.packages_distributions()
    found = {}
    for module in modules:
        if module not in sys.stdlib_module_names:
            for name in mapping.get(module, []):
                found[name] = metadata.version(name)
    return dict(sorted(found.items()))


def test_a_cell_records_the_same_versions_as_the_full_index() -> None:
    versions = environment.package_versions(CELL_MODULES)
    assert versions == old_package_versions(CELL_MODULES)
    # names that differ from their distribution's are found (PIL → pillow where installed)
    expected = {"numpy", "pandas", "scikit-learn", "scipy", "PyYAML", "protobuf"}
    if importlib.util.find_spec("PIL") is not None:
        expected.add("pillow")
    assert expected <= set(versions)


def test_every_installed_top_level_name_has_the_same_distributions() -> None:
    full = metadata.packages_distributions()
    assert full
    for name, distributions in full.items():
        assert sorted(packages.providers(name)) == sorted(distributions), name


def dist_info(site: Path, name: str, record: list[str] | None = None,
              top_level: str | None = None, *, egg: bool = False) -> None:
    """An installed distribution ``name`` 1.0 in ``site``, with these files."""
    folder = site / f"{name}-1.0.{'egg-info' if egg else 'dist-info'}"
    folder.mkdir(parents=True)
    (folder / ("PKG-INFO" if egg else "METADATA")).write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if record is not None:
        (folder / ("SOURCES.txt" if egg else "RECORD")).write_text("\n".join(record) + "\n")
    if top_level is not None:
        (folder / "top_level.txt").write_text(top_level)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site directory of odd distributions, first on ``sys.path``."""
    monkeypatch.syspath_prepend(str(tmp_path))
    dist_info(tmp_path, "Differ-Name", ["odd_mod/__init__.py,sha256=x,1", "odd_mod/a.txt,,"])
    dist_info(tmp_path, "shared-a", ["nspkg/a/__init__.py,,", "single.py,,"])
    dist_info(tmp_path, "shared-b", ["nspkg/b/__init__.py,,"])
    dist_info(tmp_path, "declared", ["whatever/__init__.py,,"], top_level="decl_one\ndecl_two\n")
    dist_info(tmp_path, "quoted", ['"comma,dir/__init__.py",,', "./dotted/x.py,,"])
    dist_info(tmp_path, "compiled", ["fastmod.cpython-311-x86_64-linux-gnu.so,,",
                                     "datadir/table.csv,,", "../../bin/tool,,"])
    dist_info(tmp_path, "nofiles")
    return tmp_path


ODD_NAMES = ["odd_mod", "nspkg", "single", "decl_one", "decl_two", "whatever", "comma",
             "comma,dir", "dotted", "fastmod", "datadir", "bin", "..", "nofiles", "numpy"]


@pytest.mark.parametrize("egg", [False, True], ids=["dist-info", "with an egg-info"])
def test_odd_distributions_have_the_same_distributions(site: Path, egg: bool) -> None:
    if egg:
        dist_info(site, "legacy", ["legacy_mod/__init__.py", "setup.py"], egg=True)
    full = metadata.packages_distributions()
    assert full["nspkg"] == ["shared-a", "shared-b"] and full["odd_mod"] == ["Differ-Name"]
    for name in [*ODD_NAMES, "legacy_mod", *CELL_MODULES]:
        assert sorted(packages.providers(name)) == sorted(full.get(name, [])), name


def test_a_cell_reads_the_metadata_of_the_distributions_it_names_only() -> None:
    """Recording a cell's environment opens the METADATA of the distributions behind its
    modules, not of every installed one (as packages_distributions() does: 0.1 s of CPU)."""
    code = (
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: event == 'open' and str(args[0]).endswith("
        "'/METADATA') and opened.append(args[0]))\n"
        "from jupyter_mlops.capture import environment\n"
        "environment.package_versions(['numpy', 'sklearn', 'json'])\n"
        "print(len(opened))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert 0 < int(done.stdout) <= 4  # numpy, scikit-learn: their name, then their version
