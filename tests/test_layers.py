"""The architecture's promises: imports go down the layers, never round in circles; only the
front ends import IPython or Jupyter; ``import jupyter_mlops`` is light; moved modules keep
their old import paths."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jupyter_mlops"
FRONT_ENDS = ("IPython", "ipywidgets", "tornado", "jupyter_server", "ipykernel")

# Each top-level module or subpackage and its layer: a module may import a lower layer, or a
# module of its own subpackage (without circles); never its own layer's other packages or up.
LAYERS = {
    "_version": 0, "_moved": 0, "errors": 0, "entities": 0,
    "data": 1, "frameworks": 1, "charts": 1,
    "store": 2,
    "drift": 3, "capture": 3, "bundle": 3,
    "lifecycle": 4, "sync": 4,
    "commands": 5, "widgets": 5, "server": 5, "ci": 5,
    "magics": 6, "cli": 6,
}
# the one upward edge the design allows: the package's own lazy public API (PEP 562)
ROOT = "jupyter_mlops"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    guarded: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(n for stmt in node.body for n in ast.walk(stmt))
    return guarded


def import_graph() -> dict[str, set[str]]:
    """Every module's imports of package modules, at any depth (inside functions too), except
    those only type checkers see."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")
               if "labextension" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_only(tree)
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        edges = set()
        for node in ast.walk(tree):
            if node in skip or not isinstance(node, ast.ImportFrom | ast.Import):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith(ROOT + ".")]
            elif node.level:
                stem = ".".join(base[:len(base) - node.level + 1] + [node.module or ""]).strip(".")
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem
                           for a in node.names]
            elif (node.module or "").startswith(ROOT):
                targets = [str(node.module)]
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def test_imports_only_go_down_the_layers() -> None:
    graph = import_graph()
    assert set(LAYERS) == {_unit(m) for m in graph} - {ROOT}, "every package has a layer"
    wrong = set()
    for module, targets in graph.items():
        if module == ROOT:
            continue  # the lazy public API re-exports every layer
        for target in targets:
            source_unit, target_unit = _unit(module), _unit(target)
            if target_unit == ROOT or (source_unit != target_unit
                                       and LAYERS[target_unit] >= LAYERS[source_unit]):
                wrong.add(f"{module} -> {target}")
    assert wrong == set()


def test_no_import_circles_inside_a_package() -> None:
    graph = import_graph()
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in path:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif _unit(target) == _unit(module) and target not in done:
                visit(target, [*path, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module != ROOT and module not in done:
            visit(module, [module])
    assert cycles == []


def test_the_graph_test_sees_lazy_and_relative_imports() -> None:
    graph = import_graph()
    assert "jupyter_mlops.charts" in graph["jupyter_mlops.drift.engine"]  # inside a method
    assert "jupyter_mlops.drift.stats" in graph["jupyter_mlops.drift.engine"]  # from . import x
    assert "jupyter_mlops.store.store" in graph["jupyter_mlops.store"]


def _imported(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return done.stdout.splitlines()


@pytest.mark.parametrize("module", [
    "jupyter_mlops", "jupyter_mlops.store", "jupyter_mlops.capture", "jupyter_mlops.data",
    "jupyter_mlops.frameworks", "jupyter_mlops.charts", "jupyter_mlops.drift",
    "jupyter_mlops.bundle", "jupyter_mlops.lifecycle.promotion",
    "jupyter_mlops.lifecycle.monitoring", "jupyter_mlops.lifecycle.retrain",
    "jupyter_mlops.lifecycle.watch", "jupyter_mlops.commands.views", "jupyter_mlops.cli",
])
def test_lower_layers_import_no_front_end(module: str) -> None:
    loaded = _imported(f"import sys, {module}\n"
                       f"print(','.join(m for m in {FRONT_ENDS!r} if m in sys.modules))")
    assert loaded == [""]


HEAVY = ("scipy.stats", "plotly", "sklearn", "ipywidgets", "skops", "IPython")


def test_import_of_the_package_is_light() -> None:
    """`import jupyter_mlops` loads none of the heavy libraries; each name loads on use."""
    heavy, modules, listed, resolved = _imported(
        "import sys, jupyter_mlops as m\n"
        f"print(','.join(x for x in {HEAVY!r} if x in sys.modules))\n"
        "import jupyter_mlops.lifecycle.monitoring, jupyter_mlops.retrain, jupyter_mlops.watch\n"
        "print(m.drift.__module__, m.retrain.__module__, m.watch.__module__)\n"
        "print(sorted(m.__all__) == sorted(n for n in dir(m) if n in m.__all__))\n"
        "print(all(getattr(m, n) is not None for n in m.__all__ if n != 'RunBrowser'))")
    assert heavy == ""
    # a submodule imported first (monitoring imports drift) does not shadow the function
    assert modules == ("jupyter_mlops.drift.engine jupyter_mlops.lifecycle.retrain "
                       "jupyter_mlops.lifecycle.watch")
    assert listed == "True" and resolved == "True"


# what a tracked cell or a %mlops command needs, and not the loading of the extension
FIRST_USE = ("sqlite_utils", "jupyter_mlops.capture.recorder", "jupyter_mlops.magics.mlops")


def test_load_ext_is_light_and_the_rest_warms_up_after_the_cell(tmp_path: Path) -> None:
    """`%load_ext jupyter_mlops` loads no heavy library, nor what only a tracked cell or
    `%mlops` needs; the end of the loading cell starts a thread that imports that (and still
    no heavy library), writes nothing and is gone once done."""
    code = (
        "import sys, threading\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'jupyter_mlops')\n"
        f"print(','.join(m for m in {HEAVY + FIRST_USE!r} if m in sys.modules) or '-')\n"
        "shell.run_cell('x = 1')\n"
        "warm = [t for t in threading.enumerate() if t.name == 'jupyter-mlops-warm-up']\n"
        "[t.join(60) for t in warm]\n"
        "print(len(warm), any(t.is_alive() for t in warm))\n"
        f"print(','.join(m for m in {HEAVY + FIRST_USE!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=tmp_path,
                          env={**os.environ, "JUPYTER_MLOPS_STORE": str(tmp_path / "store")})
    at_load, threads, warmed = done.stdout.splitlines()
    assert at_load == "IPython"
    assert threads == "1 False"
    assert warmed == ",".join(("IPython", *FIRST_USE))
    assert done.stderr == "" and list(tmp_path.iterdir()) == []  # no output, no store made


def test_moved_modules_keep_their_old_import_paths() -> None:
    """Code written against 0.1 (`from jupyter_mlops.monitoring import monitor`) still runs,
    and the old path is the same module, not a copy: patches and isinstance agree."""
    from jupyter_mlops._moved import MOVED

    same, spec = _imported(
        "import importlib\n"
        f"moved = {MOVED!r}\n"
        "pairs = [(importlib.import_module('jupyter_mlops.' + old),\n"
        "          importlib.import_module('jupyter_mlops.' + new)) for old, new in moved.items()\n"
        "]\n"
        "print(all(a is b for a, b in pairs))\n"
        "print(all(b.__spec__.name == b.__name__ for a, b in pairs))")
    assert same == "True" and spec == "True"  # the module keeps its own name and spec
    loaded = _imported("from jupyter_mlops.monitoring import monitor\n"
                       "from jupyter_mlops.drift_reference import reference_profile\n"
                       "from jupyter_mlops.profile import profile_of\n"
                       "import jupyter_mlops.fingerprint as f\n"
                       "print(monitor.__module__, reference_profile.__module__, f.__name__)")
    assert loaded == ["jupyter_mlops.lifecycle.monitoring jupyter_mlops.drift.reference "
                      "jupyter_mlops.data.fingerprint"]
