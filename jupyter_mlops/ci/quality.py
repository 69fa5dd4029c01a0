"""Model quality: a CI run's metrics against its baseline's (per-metric tolerances), gates,
reproducibility (same code on the same inputs gives the same metrics) and the bundle smoke
test (export, load and score the input example; ``verify``: from a fresh virtualenv)."""

from __future__ import annotations

import ast
import json
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..bundle import export_bundle, load_bundle
from ..bundle.verify import verify_bundle
from ..entities import Run
from ..errors import MLOpsError, NoPredictionsError
from ..lifecycle.champion import ChampionRule, compare_predictions, parse_champion
from ..lifecycle.gates import evaluate_gate, parse_gate
from ..lifecycle.monitoring import LOWER_IS_BETTER
from ..lifecycle.rollout import parse_rollout
from ..store import Store

if TYPE_CHECKING:
    from .checks import Tolerances

Found = tuple[str, Any, str, dict[str, Any]]


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of metric ``key`` is better (errors and losses)."""
    name = key.lower()
    return any(word in name for word in (*LOWER_IS_BETTER, "loss", "error", "mse"))


def metric_check(run: Run, base: Run, tolerances: Tolerances) -> Found:
    """``metrics``: every metric of the baseline, no worse than it by more than its tolerance."""
    deltas = {key: (base.metrics[key], run.metrics.get(key)) for key in sorted(base.metrics)}
    problems = []
    for key, (old, new) in deltas.items():
        if new is None:
            problems.append(f"{key} no longer logged (was {old:.4g})")
            continue
        worse = (new - old) if lower_is_better(key) else (old - new)
        if worse > tolerances.metric(key) or (math.isnan(new) and not math.isnan(old)):
            problems.append(f"{key} {new:.4g}, baseline {old:.4g} (worse by {worse:.4g}, "
                            f"tolerance {tolerances.metric(key):g})")
    details = {"metric_deltas": {k: v for k, v in deltas.items() if v[1] is not None}}
    if not deltas:
        return ("metrics", "skipped", "the baseline logged no metrics", details)
    if problems:
        return ("metrics", "failed", "; ".join(problems), details)
    return ("metrics", "passed", f"{len(deltas)} metric(s) within tolerance of {base.run_id[:8]}",
            details)


def reproducibility_check(store: Store, run: Run, base: Run, tolerances: Tolerances) -> Found:
    """``reproducibility``: the same source, parameters and input fingerprints as the baseline
    must give the same metrics (within ``tolerances.reproducibility``), the same predictions on
    the ``--eval`` rows, and (without metrics) the same output data."""
    same_inputs = {(e.name, e.fingerprint) for e in run.inputs} == \
        {(e.name, e.fingerprint) for e in base.inputs}
    if run.source_hash != base.source_hash or run.params != base.params or not same_inputs:
        return ("reproducibility", "skipped",
                "code, parameters or inputs differ from the baseline's", {})
    if disagree := _predictions_differ(store, run, base, tolerances.reproducibility):
        return ("reproducibility", "failed", "same code and inputs, different predictions on "
                f"the --eval rows: {disagree} (an unseeded random step?)", {})
    if not base.metrics:
        outputs = {(e.name, e.fingerprint) for e in base.outputs if e.kind == "dataset"}
        if not outputs:
            return ("reproducibility", "skipped", "no metrics or output data to compare", {})
        new = {(e.name, e.fingerprint) for e in run.outputs if e.kind == "dataset"}
        if changed := sorted(name for name, _ in outputs - new):
            return ("reproducibility", "failed", "same code and inputs, different output "
                    f"data: {', '.join(changed)} (an unseeded random step?)", {})
        return ("reproducibility", "passed", "same code and inputs, same output data", {})
    differ = [f"{key} {run.metrics[key]:.6g} vs {value:.6g}" for key, value in base.metrics.items()
              if key in run.metrics and not math.isclose(run.metrics[key], value, rel_tol=0,
                                                         abs_tol=tolerances.reproducibility)]
    if differ:
        return ("reproducibility", "failed",
                "same code and inputs, different metrics (an unseeded random step?): "
                + "; ".join(differ), {})
    return ("reproducibility", "passed", "same code and inputs, same metrics", {})


def _predictions_differ(store: Store, run: Run, base: Run, tolerance: float) -> str:
    """How the ``--eval`` predictions of two runs differ ("" when they agree or either run
    kept none)."""
    try:
        new, old = store.eval_predictions(run.run_id), store.eval_predictions(base.run_id)
    except NoPredictionsError:
        return ""
    for key in ("y_pred", "proba"):
        a, b = new.arrays.get(key), old.arrays.get(key)
        if a is None or b is None:
            continue
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return f"{key} has shape {a.shape}, was {b.shape}"
        same = np.isclose(a, b, rtol=0, atol=tolerance) if a.dtype.kind in "fiu" and \
            b.dtype.kind in "fiu" else a == b
        if not np.all(same):
            return f"{int(np.size(same) - np.count_nonzero(same))} of {np.size(same)} {key} values"
    return ""


def gate_checks(store: Store, run: Run, base: Run | None, gates: list[str]) -> list[Found]:
    """``gate``: each gate expression over the run's metrics (runs that log none of the
    gate's metrics skip it; a run that logs some but not all fails it), and the champion
    gate against the baseline (:func:`champion_check`)."""
    found: list[Found] = []
    for gate in gates:
        try:
            rule = parse_champion(gate)
            rollout = rule is None and parse_rollout(gate) is not None
        except MLOpsError as exc:  # a malformed champion(...) or rollout(...) gate: it says which
            found.append(("gate", "failed", str(exc), {}))
            continue
        if rule is not None:
            found.append(champion_check(store, run, base, gate, rule))
            continue
        if rollout:
            found.append(("gate", "failed", f"{gate}: the rollout gate judges a served rollout "
                          "with its labels, which CI does not have: use it when promoting", {}))
            continue
        try:
            names = {n.id for n in ast.walk(parse_gate(gate)) if isinstance(n, ast.Name)}
            if not names & set(run.metrics):  # a gate for the cells that log its metrics
                found.append(("gate", "skipped", f"{gate}: the run logs none of its metrics",
                              {}))
                continue
            result = evaluate_gate(gate, run.metrics)
        except (MLOpsError, ValueError) as exc:
            found.append(("gate", "failed", f"{gate}: {exc}", {}))
            continue
        found.append(("gate", "passed" if result.passed else "failed",
                      f"{gate}: {result.describe()}", {}))
    return found


def champion_check(store: Store, run: Run, base: Run | None, gate: str,
                   rule: ChampionRule) -> Found:
    """``gate`` (champion): the run's model against the baseline's, by the lifecycle's champion
    gate, on the answers both kept on their ``--eval`` rows (the same rows: same ``X``
    fingerprint and ``y``). The models are not re-scored: the evaluation data lives only in
    the notebook's kernel, gone by now, and the recorded answers are what re-scoring the same
    models on the same rows would give. Unlike a promotion, a tie passes: a model that answers
    exactly as the champion did is no regression (an unchanged notebook must pass)."""
    if not run.models:
        return ("gate", "skipped", f"{gate}: the run made no model", {})
    try:
        new = store.eval_predictions(run.run_id)
    except NoPredictionsError:
        return ("gate", "skipped", f"{gate}: the run kept no evaluation answers to compare "
                "(track the cell with --eval X y)", {})
    if base is None:
        return ("gate", "skipped", f"{gate}: no champion (no earlier run of this cell)", {})
    label = f"the baseline {base.run_id[:8]} ({base.name})"
    try:
        old = store.eval_predictions(base.run_id)
    except NoPredictionsError:
        return ("gate", "skipped", f"{gate}: {label} kept no evaluation answers (it was not "
                "tracked with --eval X y)", {})
    rows = (_fingerprint(run, new.X), _fingerprint(base, old.X))
    if rows[0] != rows[1] or not np.array_equal(new.arrays["y_true"], old.arrays["y_true"]):
        return ("gate", "skipped", f"{gate}: evaluated on other rows than {label} "
                f"({new.X}, {new.y} changed), so the two cannot be compared row by row; the "
                "metrics check compares their scores", {})
    try:
        result = compare_predictions(new.arrays, old.arrays, rule=rule, champion_label=label,
                                     expression=gate)
    except MLOpsError as exc:  # answers that are not one per row: it says which
        return ("gate", "failed", f"{gate}: {exc}", {})
    if result.decided_by is not None:
        return ("gate", "passed" if result.passed else "failed", f"{gate}: {result.describe()}",
                {})
    if not result.tied:
        return ("gate", "skipped", f"{gate}: {result.describe()}", {})
    return ("gate", "passed", f"{gate}: tied with {label} on {', '.join(result.tied)} over "
            f"{result.rows} rows (the same answers: no regression)", {})


def _fingerprint(run: Run, name: str) -> str | None:
    """The fingerprint of the data the run knew as ``name`` (read or made), if recorded."""
    return next((e.fingerprint for e in (*run.inputs, *run.outputs)
                 if e.kind == "dataset" and e.name == name), None)


def bundle_check(store: Store, run: Run, *, verify: bool = False) -> Found:
    """``bundle``: export the run's model, load the bundle and score its input example (with
    ``verify``, also served from a fresh virtualenv and compared with the model)."""
    with tempfile.TemporaryDirectory(prefix="mlops-ci-bundle-") as tmp:
        path = Path(tmp) / "bundle"
        try:
            export_bundle(run.run_id, path, store=store)
            bundle = load_bundle(path)
            example = json.loads((path / "input_example.json").read_text())
            predictions = bundle.predict({"dataframe_split": example})
            verified = verify_bundle(path, bundle.model) if verify else None
        except Exception as exc:  # any failure is the finding: say what it was
            return ("bundle", "failed", f"{type(exc).__name__}: {exc}", {})
    if verified is not None and not verified.ok:
        return ("bundle", "failed", f"fresh-virtualenv verification: {verified.detail}", {})
    return ("bundle", "passed", f"exported, loaded and scored {len(predictions)} example row(s)"
            + (" (and from a fresh virtualenv)" if verify else ""), {})
