"""Static analysis of a cell's (transformed) source: what it reads, binds and imports."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any

from .effects import Effects, effects

_BUILTINS = frozenset(dir(builtins)) | {"get_ipython", "display", "In", "Out", "exit", "quit"}


@dataclass(frozen=True)
class CellAnalysis:
    """What a cell's code reads and binds at module level.

    Attributes
    ----------
    reads : names whose first use in the cell is a read (its inputs from earlier cells)
    binds : names the cell assigns, defines or imports, in the order it first binds them
    literals : top-level ``name = <literal>`` assignments (candidate parameters)
    modules : top-level packages the cell imports
    strings : string constants (candidate file paths)
    effects : the files the cell writes and the models it refits
    parsed : False when the source is not valid Python (nothing else is then known)
    """

    reads: frozenset[str] = frozenset()
    binds: tuple[str, ...] = ()
    literals: dict[str, Any] = field(default_factory=dict)
    modules: frozenset[str] = frozenset()
    strings: tuple[str, ...] = ()
    effects: Effects = Effects()
    parsed: bool = True


class _Visitor(ast.NodeVisitor):
    """Walks statements in execution order, noting whether a name is first read or bound."""

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.binds: dict[str, None] = {}  # ordered: first binding first
        self.modules: set[str] = set()
        self.strings: list[str] = []

    def _load(self, name: str) -> None:
        if name not in self.binds and name not in _BUILTINS:
            self.reads.add(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._load(node.id)
        else:
            self.binds.setdefault(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)  # the right-hand side runs first
        for target in node.targets:
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self._load(node.target.id)
        self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    def _definition(self, node: Any) -> None:
        for decorator in getattr(node, "decorator_list", []):
            self.visit(decorator)
        args = getattr(node, "args", None)
        if isinstance(args, ast.arguments):
            for default in [*args.defaults, *args.kw_defaults]:
                if default is not None:
                    self.visit(default)
        for base in getattr(node, "bases", []):
            self.visit(base)
        # Names a body reads and does not define locally are reads of the cell.
        inner = _Visitor()
        if isinstance(args, ast.arguments):
            inner.binds.update(dict.fromkeys(
                a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]))
            inner.binds.update(dict.fromkeys(
                a.arg for a in (args.vararg, args.kwarg) if a is not None))
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            inner.visit(statement)
        for name in inner.reads:
            self._load(name)
        self.modules |= inner.modules
        self.strings += inner.strings
        if hasattr(node, "name"):
            self.binds.setdefault(node.name)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition
    visit_Lambda = _definition

    def _comprehension(self, node: Any) -> None:
        inner = _Visitor()
        for generator in node.generators:
            inner.visit(generator.iter)
            inner.visit(generator.target)
            for condition in generator.ifs:
                inner.visit(condition)
        for part in ("elt", "key", "value"):
            if hasattr(node, part):
                inner.visit(getattr(node, part))
        for name in inner.reads:
            self._load(name)
        self.strings += inner.strings

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.modules.add(alias.name.split(".")[0])
            self.binds.setdefault(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self.modules.add(node.module.split(".")[0])
        for alias in node.names:
            if alias.name != "*":
                self.binds.setdefault(alias.asname or alias.name)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._load(name)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.binds.setdefault(node.name)
        for statement in node.body:
            self.visit(statement)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and 0 < len(node.value) < 400 and "\n" not in node.value:
            self.strings.append(node.value)


def _literal_value(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def analyze(source: str) -> CellAnalysis:
    """Analyze Python source (already transformed from IPython syntax)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return CellAnalysis(parsed=False)
    visitor = _Visitor()
    literals: dict[str, Any] = {}
    for statement in tree.body:
        visitor.visit(statement)
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            ok, value = _literal_value(statement.value)
            if ok and not isinstance(value, (bytes, complex)):
                literals[statement.targets[0].id] = value
    return CellAnalysis(
        reads=frozenset(visitor.reads),
        binds=tuple(visitor.binds),
        literals=literals,
        modules=frozenset(visitor.modules),
        strings=tuple(dict.fromkeys(visitor.strings)),
        effects=effects(tree),
    )
