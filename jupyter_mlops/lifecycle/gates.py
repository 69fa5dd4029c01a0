"""Promotion gates: ``auc>=0.9 and f1>0.8`` over a run's metrics.

The expression is parsed into a small, fixed grammar and interpreted: comparisons between
metric names and numbers, joined by ``and``/``or``/``not`` and parentheses. Nothing is ever
passed to ``eval``. The result says which condition failed and by how much. An expression
is at most ``MAX_GATE_CHARS`` characters and nests at most ``MAX_GATE_DEPTH`` levels, so no
input makes the parser or the interpreter run out of stack or memory.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import GateError

_COMPARISONS: dict[type[ast.cmpop], tuple[str, Callable[[float, float], bool]]] = {
    ast.Lt: ("<", operator.lt), ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge), ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne),
}
METRIC_ALIASES = {"auc": "roc_auc", "acc": "accuracy", "f1_score": "f1"}
MAX_GATE_CHARS = 1000
MAX_GATE_DEPTH = 50  # syntax-tree levels: "(a>1 or b>2) and not c<3" uses 5


@dataclass(frozen=True)
class Condition:
    """One comparison of a gate, evaluated."""

    text: str
    value: float
    threshold: float
    passed: bool

    @property
    def margin(self) -> float:
        """How far the value is from the threshold (positive: beyond it in the passing sense)."""
        return self.value - self.threshold

    def describe(self) -> str:
        """``auc >= 0.9: 0.87 (FAILED, short by 0.03)`` or ``auc >= 0.9: 0.93 (ok)``."""
        if self.passed:
            return f"{self.text}: {self.value:.6g} (ok)"
        return f"{self.text}: {self.value:.6g} (FAILED, off by {abs(self.margin):.4g})"


@dataclass
class GateResult:
    """The outcome of a gate."""

    expression: str
    passed: bool
    conditions: list[Condition] = field(default_factory=list)

    def failures(self) -> list[Condition]:
        """The conditions that did not hold."""
        return [c for c in self.conditions if not c.passed]

    def describe(self) -> str:
        """One line per condition."""
        return "; ".join(c.describe() for c in self.conditions) or self.expression

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form, for the audit log."""
        return {"expression": self.expression, "passed": self.passed,
                "conditions": [{"text": c.text, "value": c.value, "threshold": c.threshold,
                                "passed": c.passed} for c in self.conditions]}


class _Gate:
    def __init__(self, expression: str, metrics: Mapping[str, float]) -> None:
        self.expression = expression
        self.metrics = metrics
        self.conditions: list[Condition] = []

    def fail(self, node: ast.AST | None, problem: str) -> GateError:
        where = f" at {ast.unparse(node)!r}" if node is not None else ""
        return GateError(f"gate {self.expression!r}: {problem}{where}. A gate compares metrics "
                         "with numbers, e.g. \"auc>=0.9 and f1>0.8\"")

    def operand(self, node: ast.expr) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.operand(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Name):
            key = node.id
            if key not in self.metrics and METRIC_ALIASES.get(key) in self.metrics:
                key = METRIC_ALIASES[key]
            if key not in self.metrics:
                known = ", ".join(sorted(self.metrics)) or "none"
                raise GateError(f"gate {self.expression!r}: the run has no metric {node.id!r} "
                                f"(its metrics: {known})")
            return float(self.metrics[key])
        raise self.fail(node, "only metric names and numbers can be compared")

    def evaluate(self, node: ast.expr) -> bool:
        if isinstance(node, ast.BoolOp):
            values = [self.evaluate(v) for v in node.values]  # evaluate all: report all
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self.evaluate(node.operand)
        if isinstance(node, ast.Compare):
            passed = True
            left = node.left
            for op, right in zip(node.ops, node.comparators, strict=True):
                if type(op) not in _COMPARISONS:
                    raise self.fail(node, f"unsupported comparison {type(op).__name__}")
                symbol, compare = _COMPARISONS[type(op)]
                a, b = self.operand(left), self.operand(right)
                ok = compare(a, b)
                value, threshold = (a, b) if not isinstance(left, ast.Constant) else (b, a)
                text = f"{ast.unparse(left)} {symbol} {ast.unparse(right)}"
                self.conditions.append(Condition(text, value, threshold, ok))
                passed = passed and ok
                left = right
            return passed
        raise self.fail(node, "expected a comparison such as auc>=0.9")


def parse_gate(expression: str) -> ast.expr:
    """Check a gate's syntax and size; returns its parsed form or raises :class:`GateError`."""
    if not isinstance(expression, str) or not expression.strip():
        raise GateError("a gate is a non-empty expression such as \"auc>=0.9 and f1>0.8\"")
    check_gate_length(expression)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise GateError(f"gate {expression!r} is not a valid expression ({exc.msg} at column "
                        f"{exc.offset}); write e.g. \"auc>=0.9 and f1>0.8\"") from None
    except (RecursionError, MemoryError):  # the parser's own nesting limit
        raise _too_deep(expression) from None
    if _depth(tree.body) > MAX_GATE_DEPTH:
        raise _too_deep(expression)
    return tree.body


def check_gate_length(expression: str) -> None:
    """Raise :class:`GateError` for a gate longer than ``MAX_GATE_CHARS``: every gate parser
    (this module's and the champion gate's) calls it before parsing."""
    if len(expression) > MAX_GATE_CHARS:
        raise GateError(f"gate {expression[:40]!r}... is {len(expression)} characters long; a "
                        f"gate has at most {MAX_GATE_CHARS}")


def parse_call(gate: str | None, name: str, options: Sequence[str], usage: str
               ) -> dict[str, Any] | None:
    """The options of a gate written like a call: ``{}`` for ``name``, ``{"k": v}`` for
    ``name(k=v)`` (each value a literal, parsed and never evaluated); None when the gate is
    not ``name``'s. :class:`GateError` for a malformed one (``usage`` shows how to write it)
    or an option not in ``options``. The champion and rollout gates are written this way."""
    if gate is None or not re.match(rf"{name}\b", gate.strip(), re.IGNORECASE):
        return None
    text = gate.strip()
    if text.lower() == name:
        return {}
    check_gate_length(text)  # within it Python's parser cannot run out of stack or memory
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        node = None
    called = (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id.lower() == name)
    if node is not None and not called:
        return None  # an expression over a metric of that name: `champion >= 0.9`
    if not isinstance(node, ast.Call) or not called or node.args:
        raise GateError(f"gate {gate!r}: write {usage}")
    values: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None or keyword.arg not in options:
            raise GateError(f"gate {gate!r}: unknown option {keyword.arg!r} (options: "
                            f"{', '.join(options)})")
        if keyword.arg in values:
            raise GateError(f"gate {gate!r}: {keyword.arg} given twice")
        try:
            values[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            raise GateError(f"gate {gate!r}: {keyword.arg} takes a number, a string or a list "
                            "of them") from None
    return values


def _too_deep(expression: str) -> GateError:
    return GateError(f"gate {expression[:40]!r}... nests more than {MAX_GATE_DEPTH} levels "
                     "(of operators, 'not' and signs); write it flatter, e.g. "
                     "\"auc>=0.9 and f1>0.8\"")


def _depth(root: ast.AST) -> int:
    """The depth of a syntax tree, walked without recursion."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def evaluate_gate(expression: str, metrics: Mapping[str, float]) -> GateResult:
    """Evaluate a gate over a run's metrics."""
    gate = _Gate(expression, metrics)
    passed = gate.evaluate(parse_gate(expression))
    return GateResult(expression, passed, gate.conditions)
