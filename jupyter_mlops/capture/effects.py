"""What a cell does that names alone do not show: the files it writes, the models it refits.

Both matter for lineage. A file the cell writes is an output (by content), not an input, even
when it already exists before the cell runs; a fitted model that the cell only refits (or
clones) contributes its hyperparameters, not its fitted state, so it is not an input either.
Only literal paths are seen (``df.to_parquet("data/clean.parquet")``), not computed ones.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

# Methods that write their first string argument (or the second: `joblib.dump(obj, path)`).
_WRITERS = frozenset({
    "to_csv", "to_parquet", "to_json", "to_feather", "to_excel", "to_pickle", "to_hdf",
    "to_orc", "to_stata", "to_xml", "to_html", "to_latex", "to_markdown",
    "write_csv", "write_parquet", "write_json", "write_ndjson", "write_ipc", "write_excel",
    "save", "savez", "savez_compressed", "savetxt", "savefig", "save_model", "dump",
})
_PATH_KEYWORDS = ("path", "path_or_buf", "fname", "file", "filename", "excel_writer")
# numpy adds the suffix itself when the path lacks it.
_NUMPY_SUFFIX = {"save": ".npy", "savez": ".npz", "savez_compressed": ".npz"}
_PATH_METHODS = frozenset({"write_text", "write_bytes", "open"})
# Calling these on a fitted model throws its fitted state away (or copies only its parameters).
_REFITS = frozenset({"fit", "fit_transform", "fit_predict"})
_CLONERS = frozenset({
    "clone", "cross_val_score", "cross_validate", "cross_val_predict", "GridSearchCV",
    "RandomizedSearchCV", "HalvingGridSearchCV", "learning_curve", "validation_curve",
    "permutation_test_score",
})


@dataclass(frozen=True)
class Effects:
    """Files a cell writes and models it refits.

    Attributes
    ----------
    writes : literal paths the cell writes to (numpy's implied suffix added)
    write_only : those of ``writes`` the cell does not also read (not inputs)
    refits : names whose first use in the cell refits or clones them
    """

    writes: tuple[str, ...] = ()
    write_only: frozenset[str] = frozenset()
    refits: frozenset[str] = frozenset()


def _text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _mode(call: ast.Call, position: int) -> str:
    """The literal mode of an ``open`` call ("r" when absent or not a literal)."""
    node = call.args[position] if len(call.args) > position else next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    return _text(node) or "r"


def _written(call: ast.Call) -> tuple[ast.Constant, str, bool] | None:
    """(path node, path as written to disk, also read?) when ``call`` writes a literal path."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open" and call.args:
        mode = _mode(call, 1)
        if any(c in mode for c in "wxa+") and isinstance(call.args[0], ast.Constant):
            path = _text(call.args[0])
            return (call.args[0], path, "a" in mode or "+" in mode) if path else None
        return None
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr in _PATH_METHODS and isinstance(func.value, ast.Call) and (
            _name(func.value.func) in ("Path", "PurePath")) and func.value.args:
        node, path = func.value.args[0], _text(func.value.args[0])
        mode = _mode(call, 0) if func.attr == "open" else "w"
        if path is None or not any(c in mode for c in "wxa+"):
            return None
        assert isinstance(node, ast.Constant)
        return node, path, "a" in mode or "+" in mode
    if func.attr not in _WRITERS:
        return None
    candidates = [*call.args[:2], *(k.value for k in call.keywords if k.arg in _PATH_KEYWORDS)]
    for node in candidates:
        path = _text(node)
        if path is not None and isinstance(node, ast.Constant):
            suffix = _NUMPY_SUFFIX.get(func.attr, "")
            if suffix and not path.endswith(suffix):
                path += suffix
            return node, path, False
    return None


def _first_uses(tree: ast.AST) -> dict[str, ast.Name]:
    """The first (in source order) read of each name."""
    first: dict[str, ast.Name] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            seen = first.get(node.id)
            if seen is None or (node.lineno, node.col_offset) < (seen.lineno, seen.col_offset):
                first[node.id] = node
    return first


def effects(tree: ast.AST) -> Effects:
    """The files ``tree`` writes by literal path and the models it refits before using."""
    writes: dict[str, tuple[int, int]] = {}  # path → where first written, for source order
    write_nodes: set[int] = set()
    also_read: set[str] = set()
    refitting: set[int] = set()  # ids of Name nodes used as `name.fit(...)` or `clone(name)`
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        found = _written(node)
        if found is not None:
            path_node, path, reads_too = found
            position = (path_node.lineno, path_node.col_offset)
            writes[path] = min(position, writes.get(path, position))
            write_nodes.add(id(path_node))
            if reads_too:
                also_read.add(path)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _REFITS and isinstance(
                func.value, ast.Name):
            refitting.add(id(func.value))
        if _name(func) in _CLONERS:
            target = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg in ("estimator", "estimator_")), None)
            if isinstance(target, ast.Name):
                refitting.add(id(target))
    for node in ast.walk(tree):  # a written path that also appears elsewhere is read too
        text = _text(node)
        if text is not None and text in writes and id(node) not in write_nodes:
            also_read.add(text)
    refits = {name for name, node in _first_uses(tree).items() if id(node) in refitting}
    return Effects(tuple(sorted(writes, key=writes.__getitem__)),
                   frozenset(set(writes) - also_read), frozenset(refits))
