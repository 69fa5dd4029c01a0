"""Retraining by re-running a run's recorded cell on new data.

The run's code slice (its cell and the earlier cells its inputs came from) is replayed in a
fresh namespace with some variables re-bound to new data; only the cells still needed are
run. The replayed cell is tracked as a new run whose parent is the original, then it can be
gated against the champion and promoted, like any run.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Mapping
from typing import Any

from ..capture import RunRecorder, TrackOptions
from ..capture import log as api
from ..capture.analysis import CellAnalysis, analyze
from ..capture.cells import CellHistory
from ..data.fingerprint import fingerprint_data
from ..entities import Run
from ..errors import MLOpsError, NotFoundError, PromotionError
from ..store import Store, open_store
from ..store.registry import check_name, get_version
from .champion import parse_champion
from .gates import parse_gate
from .promotion import eval_data_names, promote

HOLDOUT_SHARE = 0.3
# Tags that tell a run's own history: a retrained run does not inherit them from its parent.
HISTORY_TAGS = ("promotion", "retrain_of", "eval_data")


class RetrainError(MLOpsError):
    """A recorded run cannot be replayed (something it needs is missing, or it failed)."""


class _NoIPython:
    """Stands in for get_ipython() during a replay: magics are skipped, with a note."""

    def __getattr__(self, name: str) -> Any:
        def skipped(*args: Any, **kwargs: Any) -> None:
            print(f"retrain: skipped IPython {name}{args[:2]}", file=sys.stderr)

        return skipped


def replay_plan(run: Run, rebound: set[str], also: tuple[str, ...] = ()
                ) -> tuple[list[tuple[str, CellAnalysis]], set[str]]:
    """The recorded cells still needed once ``rebound`` names get new values (and ``also``
    names exist, e.g. the ``--eval`` data), and the names nothing provides: the run cannot
    be replayed while any is missing."""
    target = analyze(run.source)
    pending = (set(target.reads) | set(also)) - rebound
    chosen: list[tuple[str, CellAnalysis]] = []
    for cell in reversed(run.code_slice):
        analysis = analyze(cell.source)
        if pending.intersection(analysis.binds):
            chosen.insert(0, (cell.source, analysis))
            pending = pending.difference(analysis.binds) | (set(analysis.reads) - rebound)
    missing = {name for name in pending if not hasattr(builtins, name)}
    return chosen, missing


def parse_bindings(pairs: list[str]) -> list[tuple[str, str]]:
    """``["X_train=X_new", ...]`` → ``[("X_train", "X_new"), ...]``, checked."""
    bindings = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier() or not value:
            raise RetrainError(f"--data needs VAR=VALUE with VAR a variable name, got {pair!r}")
        bindings.append((name, value))
    return bindings


def _registered_name(store: Store, run_id: str | None) -> str | None:
    """The model name the run, or the nearest run it was retrained from, was promoted under."""
    while run_id:
        row = store.conn.execute("SELECT name FROM model_versions WHERE run_id = ? "
                                 "ORDER BY created_at DESC LIMIT 1", [run_id]).fetchone()
        if row:
            return str(row[0])
        parent = store.conn.execute("SELECT parent_run_id FROM runs WHERE run_id = ?",
                                    [run_id]).fetchone()
        run_id = parent[0] if parent else None
    return None


def holdout_split(data: dict[str, Any], names: tuple[str, str], share: float
                  ) -> tuple[Any, Any] | None:
    """Hold out the last ``share`` of the rows of the training variables ``names`` (X, y)
    in ``data``: ``data`` keeps the first rows for training; returns the held-out (X, y), or
    None when ``data`` does not hold both with the same number of rows. ``retrain`` (and so
    ``watch``) uses it, so a new model and its champion are judged on new rows neither
    trained on.
    """
    x_name, y_name = names
    if not 0 < share < 1 or x_name not in data or y_name not in data:
        return None
    X, y = data[x_name], data[y_name]
    rows = len(X) if hasattr(X, "__len__") else 0
    if rows < 2 or not hasattr(y, "__len__") or len(y) != rows:
        return None
    cut = min(rows - 1, max(1, round(rows * (1 - share))))

    def take(value: Any, part: slice) -> Any:
        return value.iloc[part] if hasattr(value, "iloc") else value[part]

    data[x_name], data[y_name] = take(X, slice(None, cut)), take(y, slice(None, cut))
    return take(X, slice(cut, None)), take(y, slice(cut, None))


def _training_names(store: Store, run_id: str) -> tuple[str, str] | None:
    from .monitoring import MonitorError, training_variables

    try:
        return training_variables(store, run_id)
    except MonitorError:
        return None


def _check_promotion(store: Store, original: Run, *, promote_to: str, gate: str | None,
                     name: str | None, gate_data: tuple[Any, Any] | None,
                     eval_names: tuple[str, str] | None) -> str:
    """Everything the promotion after the replay needs, checked before replaying: the
    registered name, the stage, the gate and the data to judge it on."""
    check_name(promote_to, "stage or alias")
    model_name = name or _registered_name(store, original.run_id)
    if model_name is None:
        raise RetrainError(f"run {original.run_id} ({original.name}) was never promoted: pass "
                           "name= (--name) to say which registered model the retrained one "
                           "belongs to")
    check_name(model_name)
    if parse_champion(gate) is None:
        if gate is not None:
            parse_gate(gate)
        return model_name
    if gate_data is None and eval_names is None:
        try:
            holder = get_version(store, f"{model_name}@{promote_to}")
        except NotFoundError:
            return model_name
        raise RetrainError(
            f"the champion gate would judge the retrained model against {holder.ref} on "
            f"evaluation data, and there is none: run {original.run_id} was not tracked with "
            "--eval X Y, and the new data does not hold its training variables to hold part of "
            "them out. Pass gate_data=(X, y), or a metrics gate such as gate=\"auc>=0.9\"")
    return model_name


def _eval_source(store: Store, original: Run, names: tuple[str, str] | None,
                 namespace: Mapping[str, Any], held_out: str | None,
                 given: Mapping[str, Any]) -> str | None:
    """Where the new run's ``--eval`` metrics come from, in words (its ``eval_data`` tag)."""
    if names is None or not all(n in namespace for n in names):
        return None
    if held_out is not None:
        return held_out
    if all(n in given for n in names):
        return f"{names[0]}, {names[1]} as given in data="
    recorded = {e.name: e.fingerprint for e in original.inputs}
    if not all(n in recorded for n in names):
        return f"{names[0]}, {names[1]} as the replay bound them"
    if all(recorded[n] == fingerprint_data(namespace[n]) for n in names):
        return (f"{names[0]}, {names[1]}: the evaluation data of run {original.run_id} "
                "(unchanged, not the new data)")
    return f"{names[0]}, {names[1]} as the replayed cells compute them from the new data"


def retrain(
    run_id: str,
    *,
    data: Mapping[str, Any] | None = None,
    gate: str | None = "champion",
    promote_to: str | None = None,
    name: str | None = None,
    reason: str | None = None,
    verify: bool | None = None,
    gate_data: tuple[Any, Any] | None = None,
    holdout: float = HOLDOUT_SHARE,
    training: tuple[str, str] | None = None,
    trusted: list[str] | None = None,
    store: Store | None = None,
) -> Run:
    """Re-run the recorded cell of ``run_id`` with ``data`` re-bound; returns the new run.

    Parameters
    ----------
    run_id : the run to retrain: a run id, prefix, model reference, or a run name (its latest
        *tracked* run, the root of its retraining lineage, see :mod:`jupyter_mlops.store.names`)
    data : ``{variable: new value}`` — e.g. ``{"X_train": X_new, "y_train": y_new}``
    gate : with ``promote_to``: ``"champion"`` (beat the current holder on the same rows,
        see :mod:`jupyter_mlops.champion`), an expression over the new run's metrics, or None
    promote_to : promote the new model to this stage if the gate passes
    name : the registered model name (default: the one the run, or the run it was retrained
        from, was promoted under)
    gate_data : ``(X, y)`` to judge the champion gate on (default: see ``holdout``)
    holdout : when ``data`` re-binds the run's training variables (X, y), their last
        ``holdout`` share of rows is held out: the model trains on the rest, and the run's
        ``--eval`` metrics and the champion gate are computed on the held-out new rows.
        ``0``: train on all of it; metrics and gate then use the run's ``--eval`` variables.
    training : the (X, y) training variable names (default: found from the run's inputs)
    trusted : exact extra type names for the promotion's bundle (see :func:`promote`)

    The new run has ``parent_run_id`` = the original, tag ``retrain_of``, tag ``eval_data``
    (where its ``--eval`` metrics come from) and tag ``promotion`` saying what happened to it;
    the original's ``promotion``/``retrain_of``/``eval_data`` tags are not inherited. The
    promotion (name, stage, gate, evaluation data) is checked before anything is replayed.
    A refused gate leaves the champion in place.

    Raises
    ------
    RetrainError
        the run cannot be replayed or promoted (it names what is missing), or the replayed cell
        failed (the failed run is recorded).
    ValueError
        ``holdout`` is not a share from 0 to below 1.
    """
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout is the share of the new training rows held out, from 0 to "
                         f"below 1 (e.g. 0.3; 0: train on all of them), got {holdout!r}")
    store = store or open_store(create=False)
    original = store.get_run(run_id)
    models = [e.name for e in original.outputs if e.kind == "model"]
    if not models:
        raise RetrainError(f"run {original.run_id} ({original.name}) produced no model: only a "
                           "run that fitted one can be retrained")
    rebound = dict(data or {})
    eval_names = eval_data_names(store, original.run_id)
    held_out = None
    if gate_data is None and holdout:
        names = training or _training_names(store, original.run_id)
        held = holdout_split(rebound, names, holdout) if names else None
        if names and held is not None:
            gate_data = held
            rows = len(held[1]) + len(rebound[names[1]])
            held_out = (f"the last {len(held[1])} of the {rows} new rows of {names[0]}, "
                        f"{names[1]}, held out from training")
            if eval_names:
                rebound.update(zip(eval_names, held, strict=True))
    model_name = None
    if promote_to is not None:
        model_name = _check_promotion(store, original, promote_to=promote_to, gate=gate,
                                      name=name, gate_data=gate_data, eval_names=eval_names)
    cells, missing = replay_plan(original, set(rebound), eval_names or ())
    if missing:
        raise RetrainError(
            f"cannot replay run {original.run_id} ({original.name}): it reads "
            f"{', '.join(sorted(missing))}, which no recorded cell defines. Pass them with "
            f"data={{{', '.join(repr(m) + ': ...' for m in sorted(missing))}}}")
    # "__main__", as in the notebook: what the cells define is notebook code (a torch module's
    # class, a FunctionTransformer's function), stored and bundled as the notebook's run's is
    namespace: dict[str, Any] = {"__name__": "__main__", "get_ipython": _NoIPython}
    history = CellHistory()
    counts = {cell.source: cell.execution_count for cell in original.code_slice}
    for source, analysis in cells:
        namespace.update(rebound)
        try:
            exec(compile(source, "<recorded cell>", "exec"), namespace)  # noqa: S102
        except Exception as exc:
            raise RetrainError(f"replaying a recorded cell of run {original.run_id} failed "
                               f"({type(exc).__name__}: {exc}):\n{source}") from exc
        history.add(source, analysis, execution_count=counts.get(source))
    namespace.update(rebound)
    evaluated = eval_names if eval_names and all(n in namespace for n in eval_names) else None
    tags = {k: v for k, v in original.tags.items() if k not in HISTORY_TAGS}
    eval_source = _eval_source(store, original, evaluated, namespace, held_out, data or {})
    if eval_source:
        tags["eval_data"] = eval_source
    options = TrackOptions(
        name=original.name, experiment=original.experiment,
        tags={**tags, "retrain_of": original.run_id},
        models=models[:1], eval=evaluated)
    recorder = RunRecorder(store, options, original.source, namespace, history,
                           parent_run_id=original.run_id)
    recorder.prepare()
    recorder.begin()
    error: BaseException | None = None
    with api.activate(recorder):
        try:
            exec(compile(original.source, f"<retrain {original.name}>", "exec"), namespace)
        except Exception as exc:
            error = exc
    recorder.finish(error)
    if error is not None:
        raise RetrainError(f"the replayed cell of run {original.run_id} failed: "
                           f"{type(error).__name__}: {error} (recorded as failed run "
                           f"{recorder.run_id})") from error
    outcome = "not promoted (no promote_to)"
    if promote_to is not None and model_name is not None:
        if gate_data is None and evaluated:
            gate_data = (namespace[evaluated[0]], namespace[evaluated[1]])
        try:
            version = promote(recorder.run_id, name=model_name, stage=promote_to, gate=gate,
                              data=gate_data, verify=verify, trusted=trusted, store=store,
                              reason=reason or f"retrained from {original.run_id}")
            outcome = (f"registered as {version.ref}; moving it to {promote_to} waits for "
                       f"approval (request {version.pending['request']})" if version.pending
                       else f"promoted as {version.ref} ({promote_to})")
        except PromotionError as exc:
            outcome = f"refused: {exc}"
    store.record_tag(recorder.run_id, "promotion", outcome)
    return store.get_run(recorder.run_id)
