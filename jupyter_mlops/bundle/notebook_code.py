"""Functions a model calls that were defined in the notebook, captured into the bundle.

A ``FunctionTransformer(date_features)`` whose function was defined in an earlier cell refers
to ``__main__.date_features``, which exists only in that kernel. At export the recorded cells
(the run's code slice and its own cell) are searched for the function's definition and
everything it needs: imports, literal constants, other functions. They become the module
``code/notebook_functions.py`` (MLflow's ``code_paths`` convention) and the model is rebound
to it. A torch module's class is captured the same way (with its methods and what they
need), the model file rebound to it by its framework. What cannot be captured (a lambda, a
closure, any other class, a computed value) is refused here, naming it, rather than exported
into a bundle that fails where it is loaded.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import io
import json
import sys
import types
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..entities import Run
from ..errors import BundleError
from .trust import CODE_MODULE as MODULE
from .trust import CODE_PATH as PATH

MEDIA_TYPE = "text/x-python; role=bundle-notebook-functions"
MAIN = "__main__."
HINT = ("define it at the top level of a cell with def, using only imports, literal constants "
        "and other such functions, or move it into an installed module and pass --trust NAME")


@dataclass(frozen=True)
class NotebookCode:
    """The captured module: its source, the functions the model calls, and its sha256."""

    source: str
    functions: list[str]

    @property
    def sha256(self) -> str:
        """The sha256 of the module's bytes (what the store records at export)."""
        return hashlib.sha256(self.source.encode()).hexdigest()


@dataclass
class _Definition:
    kind: str  # "function", "import", "literal" or "other"
    text: str
    node: ast.AST
    cell: str


def notebook_functions(types_found: list[str]) -> list[str]:
    """The names of the model's functions that were defined in the notebook (``__main__``)."""
    return sorted(name[len(MAIN):] for name in types_found if name.startswith(MAIN))


def _definitions(run: Run) -> dict[str, _Definition]:
    """The latest top-level binding of every name in the recorded cells, in run order."""
    cells = [(f"[{c.execution_count}]" if c.execution_count is not None else "an earlier cell",
              c.source) for c in run.code_slice] + [(f"the tracked cell ({run.name})", run.source)]
    found: dict[str, _Definition] = {}
    for label, source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            text = ast.get_source_segment(source, node) or ""
            if isinstance(node, ast.FunctionDef):
                found[node.name] = _Definition("function", text, node, label)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    name = (alias.asname or alias.name).split(".")[0]
                    single = ast.Import(names=[alias]) if isinstance(node, ast.Import) else \
                        ast.ImportFrom(module=node.module, names=[alias], level=node.level)
                    found[name] = _Definition("import", ast.unparse(single), node, label)
            else:
                for target in _bound(node):
                    kind = "literal" if _is_literal(node, target) else "other"
                    found[target] = _Definition(kind, text, node, label)
    return found


def _bound(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(node, (ast.ClassDef, ast.AsyncFunctionDef)):
        return [node.name]
    return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Store)]


def _is_literal(node: ast.stmt, target: str) -> bool:
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name) and node.targets[0].id == target):
        return False
    try:
        ast.literal_eval(node.value)
    except ValueError:
        return False
    return True


def _free_names(function: ast.FunctionDef | ast.ClassDef) -> list[str]:
    """Names a function (or a class's body and methods) reads from its module's globals
    (not its own arguments or locals)."""
    local: set[str] = set()
    if isinstance(function, ast.FunctionDef):
        arguments = function.args
        local = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                 *filter(None, [arguments.vararg, arguments.kwarg])]}
    loaded: dict[str, None] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.setdefault(node.id)
            else:
                local.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                node is not function:
            local.add(node.name)
        elif isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            local.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            raise BundleError(f"{function.name} uses a {type(node).__name__.lower()} statement "
                              f"and cannot be captured in the bundle: {HINT}")
    return [name for name in loaded if name not in local and not hasattr(builtins, name)]


def capture(run: Run, names: list[str], *, classes: bool = False) -> NotebookCode:
    """The module holding the notebook functions ``names`` and what they need; with
    ``classes``, ``names`` may be classes too (a torch module's class, rebuilt by its
    framework's loader), captured with their methods.

    Raises
    ------
    BundleError
        a function or one of its dependencies cannot be captured (named in the message).
    """
    definitions = _definitions(run)
    chosen: dict[str, _Definition] = {}
    pending: list[tuple[str, str | None]] = [(name, None) for name in names]
    while pending:
        name, user = pending.pop()
        if name in chosen:
            continue
        where = f"{user!r} uses {name!r}" if user else f"the model calls {name!r}"
        definition = definitions.get(name)
        if name == "<lambda>" or definition is None and "<" in name:
            raise BundleError(f"{where}, a lambda or nested function, which cannot be "
                              f"captured in the bundle: {HINT}")
        if definition is None:
            raise BundleError(f"{where}, which none of the recorded cells of run "
                              f"{run.run_id} defines, so it cannot be captured in the bundle: "
                              f"{HINT}")
        if isinstance(definition.node, ast.ClassDef) and classes:
            cls = definition.node
            if cls.decorator_list:
                raise BundleError(f"{where}, a decorated class, which cannot be captured in "
                                  f"the bundle: {HINT}")
            pending += [(dependency, name) for dependency in _free_names(cls)]
            chosen[name] = _Definition("function", definition.text, cls, definition.cell)
            continue
        if isinstance(definition.node, ast.ClassDef):
            raise BundleError(f"{where}, a class defined in the notebook, which cannot be "
                              "captured in the bundle: move it into an installed module and "
                              "pass --trust with its name")
        if definition.kind == "other":
            raise BundleError(f"{where}, which {definition.cell} binds to a computed value "
                              f"(`{definition.text[:80]}`), so it cannot be captured in the "
                              f"bundle: {HINT}")
        if definition.kind == "function":
            function = definition.node
            assert isinstance(function, ast.FunctionDef)
            if function.decorator_list:
                raise BundleError(f"{where}, a decorated function, which cannot be captured "
                                  f"in the bundle: {HINT}")
            pending += [(dependency, name) for dependency in _free_names(function)]
        chosen[name] = definition
    return NotebookCode(_module_source(run, chosen), sorted(names))


def _module_source(run: Run, chosen: dict[str, _Definition]) -> str:
    order = {"import": 0, "literal": 1, "function": 2}
    parts = [f'"""Functions defined in the notebook of run {run.run_id} ({run.name}) that its '
             'model calls.\n\nWritten by jupyter-mlops export; loading the bundle runs this '
             'module only when\nthe loader trusts it (--trust-code, trust_code=True).\n"""\n']
    blocks: list[str] = []
    for definition in sorted(chosen.values(), key=lambda d: order[d.kind]):
        if definition.text not in blocks:
            blocks.append(definition.text)
    return "\n".join(parts) + "\n" + "\n\n".join(blocks) + "\n"


def card_section(code: NotebookCode) -> str:
    """The model card's account of the notebook code the bundle carries."""
    return (f"\n## Notebook code\n\nThe model calls functions defined in the notebook: "
            f"{', '.join(f'`{f}`' for f in code.functions)}. They travel as `{PATH}` "
            f"(sha256 `{code.sha256[:16]}…`), which loaders run only when told to "
            "(`--trust-code`, `trust_code=True`) or when the loading store recorded it at "
            "export.\n")


@contextlib.contextmanager
def importable(built: types.ModuleType) -> Iterator[None]:
    """``built`` importable as its module name for the duration (to load the model)."""
    previous = sys.modules.get(MODULE)
    sys.modules[MODULE] = built
    try:
        yield
    finally:
        if previous is None:
            sys.modules.pop(MODULE, None)
        else:
            sys.modules[MODULE] = previous


def module(code: NotebookCode) -> types.ModuleType:
    """The captured module, executed (checked to define every function the model calls)."""
    built = types.ModuleType(MODULE)
    built.__file__ = PATH
    try:
        exec(compile(code.source, PATH, "exec"), built.__dict__)  # noqa: S102 - the user's code
    except Exception as exc:
        raise BundleError(f"the notebook functions {', '.join(code.functions)} do not run "
                          f"outside the notebook ({type(exc).__name__}: {exc}): {HINT}"
                          ) from None
    missing = [f for f in code.functions if not callable(getattr(built, f, None))]
    if missing:
        raise BundleError(f"{', '.join(missing)} could not be captured in the bundle: {HINT}")
    return built


def rebind(model_bytes: bytes, functions: list[str]) -> bytes:
    """The skops file with its references to ``__main__.<function>`` pointed at the module."""
    source = io.BytesIO(model_bytes)
    target = io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w",
                                                        zipfile.ZIP_DEFLATED) as new:
        for member in old.infolist():
            data = old.read(member)
            if member.filename == "schema.json":
                data = json.dumps(_rebound(json.loads(data), set(functions))).encode()
            new.writestr(member, data)
    return target.getvalue()


def _rebound(node: Any, functions: set[str]) -> Any:
    if isinstance(node, dict):
        if node.get("__module__") == "__main__" and node.get("__class__") in functions \
                and node.get("__loader__") == "FunctionNode":
            node = {**node, "__module__": MODULE}
        return {key: _rebound(value, functions) for key, value in node.items()}
    if isinstance(node, list):
        return [_rebound(value, functions) for value in node]
    return node
