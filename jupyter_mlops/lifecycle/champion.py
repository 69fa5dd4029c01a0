"""The champion gate: does a challenger beat the current holder of a stage on the same rows?

Both models are scored now on the same evaluation rows. The metrics are compared in order —
classifiers ``roc_auc``, then ``log_loss``, ``brier``, ``accuracy``; regressors ``rmse``, then
``mae`` — and the first one on which the two models differ decides (a tie, within 1e-9, hands
over to the next, so a tie at roc_auc 1.0 is broken by log_loss). The challenger passes when it
is better on the deciding metric by at least ``min_improvement`` (in that metric's units;
default 0: any improvement) and, with ``test``, when a one-sided paired test on the same rows
says the improvement is not noise (p ≤ ``alpha``): ``"bootstrap"`` resamples the rows and
re-computes the deciding metric (1000 resamples, fixed seed), ``"mcnemar"`` compares the rows
each model gets right (accuracy; exact binomial). All tied: the champion stays.

Both models' answers kept by ``%%track --eval`` on the same rows decide just the same
(:func:`compare_predictions`): CI judges a notebook's new model against its baseline's that way,
after the kernel that held the evaluation data is gone.

Written as a gate: ``champion``, or with options, parsed like a call and never evaluated:
``champion(min_improvement=0.01, test="bootstrap", alpha=0.05, metrics=["log_loss"])``.
The result says which metric decided, both values, by how much, and the test's p-value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GateError
from ..frameworks.models import as_estimator, is_classifier
from .gates import Condition, GateResult, parse_call

CHAMPION = "champion"
CLASSIFIER_METRICS = ("roc_auc", "log_loss", "brier", "accuracy")
REGRESSOR_METRICS = ("rmse", "mae")
HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "log_loss": False, "brier": False,
                    "rmse": False, "mae": False}
TESTS = ("bootstrap", "mcnemar")
TIE = 1e-9
RESAMPLES = 1000
_EPS = 1e-15


@dataclass(frozen=True)
class ChampionRule:
    """What the champion gate compares and how strict it is (see the module docstring)."""

    metrics: tuple[str, ...] | None = None  # None: the defaults for the task
    min_improvement: float = 0.0
    test: str | None = None
    alpha: float = 0.05

    def __post_init__(self) -> None:
        unknown = [m for m in self.metrics or () if m not in HIGHER_IS_BETTER]
        if unknown:
            raise GateError(f"champion gate: unknown metric(s) {', '.join(unknown)}; it compares "
                            f"{', '.join(HIGHER_IS_BETTER)}")
        if self.metrics is not None and not self.metrics:
            raise GateError("champion gate: metrics=[] compares nothing; name at least one")
        if not (_is_number(self.min_improvement) and self.min_improvement >= 0
                and math.isfinite(self.min_improvement)):
            raise GateError("champion gate: min_improvement is a number ≥ 0 (in the units of "
                            f"the deciding metric), got {self.min_improvement!r:.40}")
        if self.test is not None and self.test not in TESTS:
            raise GateError(f"champion gate: test={self.test!r}; use one of {', '.join(TESTS)}")
        if not (_is_number(self.alpha) and 0 < self.alpha < 1):
            raise GateError("champion gate: alpha is a level between 0 and 1, got "
                            f"{self.alpha!r:.40}")

    def describe(self) -> str:
        """The rule in words, e.g. ``champion(min_improvement=0.01, test='bootstrap')``."""
        options = [f"metrics={list(self.metrics)}"] if self.metrics else []
        if self.min_improvement:
            options.append(f"min_improvement={self.min_improvement:g}")
        if self.test:
            options += [f"test={self.test!r}", f"alpha={self.alpha:g}"]
        return CHAMPION + (f"({', '.join(options)})" if options else "")


def _is_number(value: Any) -> bool:
    """An int or a float, not a bool (``True`` is no threshold)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_champion(gate: str | None) -> ChampionRule | None:
    """The rule of a champion gate (``champion`` or ``champion(...)``), None for any other
    gate; raises :class:`GateError` for a malformed one."""
    options = parse_call(gate, CHAMPION, ("metrics", "min_improvement", "test", "alpha"),
                         "champion, or champion(min_improvement=0.01, test='bootstrap', "
                         "alpha=0.05, metrics=['log_loss'])")
    if options is None:
        return None
    metrics = options.get("metrics")
    if isinstance(metrics, str):
        options["metrics"] = (metrics,)
    elif "metrics" in options:
        if not (isinstance(metrics, (list, tuple)) and all(isinstance(m, str) for m in metrics)):
            raise GateError(f"gate {gate!r}: metrics takes a metric name or a list of them")
        options["metrics"] = tuple(metrics)
    return ChampionRule(**options)


@dataclass
class _Scored:
    """A model's answers on the evaluation rows."""

    y_pred: np.ndarray
    proba: np.ndarray | None  # columns in the order of ``classes``
    classes: np.ndarray | None


def _score(model: Any, X: Any, y_true: np.ndarray, classification: bool) -> _Scored:
    model = as_estimator(model)
    y_pred = np.asarray(model.predict(X)).ravel()
    proba = classes = None
    if classification and callable(getattr(model, "predict_proba", None)):
        try:
            proba = np.asarray(model.predict_proba(X), dtype=float)
            classes = np.asarray(getattr(model, "classes_", np.unique(y_true)))
        except Exception:
            proba = classes = None
    return _checked(_Scored(y_pred, proba, classes), y_true)


def _checked(scored: _Scored, y_true: np.ndarray) -> _Scored:
    """``scored`` without its probabilities when they do not fit the classes or the rows."""
    proba, classes = scored.proba, scored.classes
    if classes is not None and (proba is None or proba.ndim != 2
                                or proba.shape != (y_true.size, classes.size)
                                or not set(np.unique(y_true)) <= set(classes.tolist())):
        return _Scored(scored.y_pred, None, None)
    return scored


def _true_proba(scored: _Scored, y_true: np.ndarray) -> np.ndarray:
    """Each row's predicted probability of its true class."""
    assert scored.proba is not None and scored.classes is not None
    column = np.searchsorted(scored.classes, y_true, sorter=np.argsort(scored.classes))
    order = np.argsort(scored.classes)[column]
    return scored.proba[np.arange(len(y_true)), order]


def _per_row(metric: str, scored: _Scored, y_true: np.ndarray) -> np.ndarray | None:
    """Per-row values whose mean is the metric (None for roc_auc, which is not a mean)."""
    if metric == "accuracy":
        return (scored.y_pred == y_true).astype(float)
    if metric in ("rmse", "mae"):
        error = scored.y_pred.astype(float) - y_true.astype(float)
        return error ** 2 if metric == "rmse" else np.abs(error)
    if scored.proba is None:
        return None
    if metric == "log_loss":
        return -np.log(np.clip(_true_proba(scored, y_true), _EPS, 1.0))
    if metric == "brier":
        assert scored.classes is not None
        onehot = (y_true[:, None] == scored.classes[None, :]).astype(float)
        if scored.classes.size == 2:  # scikit-learn's binary Brier score: the positive class
            return (scored.proba[:, 1] - onehot[:, 1]) ** 2
        return ((scored.proba - onehot) ** 2).sum(axis=1)
    return None


def _roc_auc(scored: _Scored, y_true: np.ndarray, rows: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    assert scored.proba is not None and scored.classes is not None
    truth, proba = y_true[rows], scored.proba[rows]
    present = np.unique(truth)
    if present.size < 2:
        return math.nan
    try:
        if scored.classes.size == 2:
            return float(roc_auc_score(truth == scored.classes[1], proba[:, 1]))
        if present.size < scored.classes.size:
            return math.nan
        return float(roc_auc_score(truth, proba, multi_class="ovr", labels=scored.classes))
    except ValueError:
        return math.nan


def _metric_fn(metric: str, scored: _Scored,
               y_true: np.ndarray) -> Callable[[np.ndarray], float] | None:
    """``rows → metric on those rows`` (rows may repeat: a bootstrap resample)."""
    if metric == "roc_auc":
        if scored.proba is None:
            return None
        return lambda rows: _roc_auc(scored, y_true, rows)
    values = _per_row(metric, scored, y_true)
    if values is None:
        return None
    if metric == "rmse":
        return lambda rows: float(math.sqrt(values[rows].mean()))
    return lambda rows: float(values[rows].mean())


@dataclass
class ChampionResult(GateResult):
    """A champion gate's outcome: the metric that decided, both values, the test."""

    champion: str = ""
    rows: int = 0
    decided_by: str | None = None
    challenger_value: float | None = None
    champion_value: float | None = None
    tied: list[str] = field(default_factory=list)
    p_value: float | None = None
    verdict: str = ""

    def describe(self) -> str:
        """One sentence: what decided and by how much (the refusal's or the pass's reason)."""
        return self.verdict

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form, for the audit log."""
        return {**super().as_dict(), "champion": self.champion, "rows": self.rows,
                "decided_by": self.decided_by, "challenger": self.challenger_value,
                "champion_value": self.champion_value, "tied": self.tied,
                "p_value": self.p_value, "verdict": self.verdict}


def _paired_p(rule: ChampionRule, metric: str, better: Callable[[np.ndarray], float],
              y_true: np.ndarray, challenger: _Scored, champion: _Scored) -> tuple[float, str]:
    """One-sided p-value that the challenger is not better, and the test's name."""
    n = len(y_true)
    if rule.test == "mcnemar":
        from scipy.stats import binomtest

        right_new = challenger.y_pred == y_true
        right_old = champion.y_pred == y_true
        wins, losses = int(np.sum(right_new & ~right_old)), int(np.sum(~right_new & right_old))
        if wins + losses == 0:
            return 1.0, "paired McNemar test on accuracy (no row answered differently)"
        p = float(binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue)
        return p, f"paired McNemar test on accuracy ({wins} rows won, {losses} lost)"
    rng = np.random.default_rng(0)
    samples = rng.integers(0, n, size=(RESAMPLES, n))
    gains = np.array([better(rows) for rows in samples])
    gains = gains[np.isfinite(gains)]
    if gains.size == 0:
        return 1.0, f"paired bootstrap of {metric} (no resample could score it)"
    p = float((np.sum(gains <= 0) + 1) / (gains.size + 1))
    return p, f"paired bootstrap of {metric} over {gains.size} resamples of the {n} rows"


def _gain(new: Callable[[np.ndarray], float], old: Callable[[np.ndarray], float],
          sign: float) -> Callable[[np.ndarray], float]:
    return lambda rows: sign * (new(rows) - old(rows))


def compare_models(challenger: Any, champion: Any, X: Any, y: Any, *,
                   rule: ChampionRule | None = None, champion_label: str = "the champion",
                   expression: str = CHAMPION) -> ChampionResult:
    """Decide whether ``challenger`` beats ``champion`` on ``(X, y)``, by ``rule``.

    Returns a :class:`ChampionResult` whose ``describe()`` names the deciding metric, both
    values and the difference (and the paired test's p-value when one was asked for).
    """
    rule = rule or ChampionRule()
    y_true = np.asarray(y).ravel()
    classification = is_classifier(as_estimator(challenger), y_true)
    new = _score(challenger, X, y_true, classification)
    old = _score(champion, X, y_true, classification)
    return _compare(new, old, y_true, classification, rule, champion_label, expression)


def compare_predictions(challenger: Mapping[str, np.ndarray], champion: Mapping[str, np.ndarray],
                        *, rule: ChampionRule | None = None, champion_label: str = "the champion",
                        expression: str = CHAMPION) -> ChampionResult:
    """Decide as :func:`compare_models` does, from both models' recorded answers on the same
    evaluation rows instead of re-scoring them: the arrays ``%%track --eval`` keeps
    (``y_true``, ``y_pred``, and for classifiers ``proba`` and ``classes``).

    Raises :class:`GateError` when the two were not answers on the same rows (their
    ``y_true`` differ)."""
    rule = rule or ChampionRule()
    y_true = np.asarray(challenger["y_true"]).ravel()
    if not np.array_equal(y_true, np.asarray(champion["y_true"]).ravel()):
        raise GateError(f"champion gate: the challenger and {champion_label} were evaluated on "
                        "different rows, so their answers cannot be compared row by row")
    task = challenger.get("task")
    classification = (str(task) == "classification" if task is not None
                      else "proba" in challenger)
    new, old = (_recorded(arrays, y_true, classification) for arrays in (challenger, champion))
    return _compare(new, old, y_true, classification, rule, champion_label, expression)


def _recorded(arrays: Mapping[str, np.ndarray], y_true: np.ndarray,
              classification: bool) -> _Scored:
    """A model's recorded answers, as :func:`_score` would have computed them;
    :class:`GateError` when they are not one per row."""
    proba, classes = arrays.get("proba"), arrays.get("classes")
    y_pred = np.asarray(arrays["y_pred"]).ravel()
    if y_pred.size != y_true.size:
        raise GateError(f"champion gate: a model recorded {y_pred.size} answers for "
                        f"{y_true.size} rows, so they cannot be compared row by row")
    if not classification or proba is None or classes is None:
        return _Scored(y_pred, None, None)
    return _checked(_Scored(y_pred, np.asarray(proba, dtype=float), np.asarray(classes)),
                    y_true)


def _compare(new: _Scored, old: _Scored, y_true: np.ndarray, classification: bool,
             rule: ChampionRule, champion_label: str, expression: str) -> ChampionResult:
    """The champion decision on two models' answers on the same rows."""
    names: Sequence[str] = rule.metrics or (CLASSIFIER_METRICS if classification
                                            else REGRESSOR_METRICS)
    all_rows = np.arange(len(y_true))
    result = ChampionResult(expression, False, champion=champion_label, rows=len(y_true))
    vs = f"vs {champion_label}"
    for metric in names:
        new_fn, old_fn = _metric_fn(metric, new, y_true), _metric_fn(metric, old, y_true)
        if new_fn is None or old_fn is None:
            continue
        a, b = new_fn(all_rows), old_fn(all_rows)
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
        gain = sign * (a - b)
        word = "higher" if HIGHER_IS_BETTER[metric] else "lower"
        if abs(a - b) <= TIE * max(1.0, abs(a), abs(b)):
            result.tied.append(metric)
            result.conditions.append(Condition(f"{metric} tied with {champion_label}", a, b,
                                               True))
            continue
        result.decided_by, result.challenger_value, result.champion_value = metric, a, b
        ties = (f" after a tie on {', '.join(result.tied)} at "
                f"{', '.join(f'{c.value:.6g}' for c in result.conditions)}"
                if result.tied else "")
        head = (f"{metric} decided{ties} on {len(y_true)} rows: challenger {a:.6g} {vs} {b:.6g}")
        needed = max(rule.min_improvement, 0.0)
        passed = gain > 0 and gain >= needed
        result.conditions.append(Condition(f"{metric} {word} by ≥ {needed:g} {vs}",
                                           gain, needed, passed))
        if gain < 0:
            result.verdict = f"{head} (worse by {-gain:.4g}; {word} is better)"
        elif not passed:
            result.verdict = (f"{head} (better by {gain:.4g}, less than the required "
                              f"min_improvement {needed:g})")
        else:
            result.verdict = f"{head} (better by {gain:.4g})"
            if rule.test is not None:
                p, test = _paired_p(rule, metric, _gain(new_fn, old_fn, sign), y_true, new, old)
                result.p_value = p
                passed = p <= rule.alpha
                result.conditions.append(Condition(f"{test}: p ≤ {rule.alpha:g}", p,
                                                   rule.alpha, passed))
                result.verdict += (f"; {test}: p={p:.3g} " + ("≤" if passed else ">")
                                   + f" {rule.alpha:g}"
                                   + ("" if passed else ", so the improvement may be noise"))
        result.passed = passed
        return result
    compared = ", ".join(result.tied) or "no metric both models could be scored on"
    result.verdict = (f"no metric decided on {len(y_true)} rows: tied with {champion_label} "
                      f"on {compared}; the champion stays")
    return result
