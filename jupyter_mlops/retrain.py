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

from . import api
from .bundle.trust import add_trust_option
from .capture import RunRecorder, TrackOptions
from .capture.analysis import CellAnalysis, analyze
from .capture.cells import CellHistory
from .entities import Run
from .errors import MLOpsError, PromotionError
from .promotion import eval_data_names, promote
from .store import Store, open_store


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


def add_retrain_options(parser: Any) -> None:
    """The options of ``retrain``, shared by the CLI and ``%mlops retrain``."""
    parser.add_argument("run", help="the run to retrain (id, prefix or name)")
    parser.add_argument("--data", action="append", default=[], metavar="VAR=VALUE",
                        help="re-bind a variable of the recorded cells to new data")
    parser.add_argument("--promote-to", metavar="STAGE", help="promote if the gate passes")
    parser.add_argument("--gate", default="champion", help="champion (default) or an expression")
    parser.add_argument("--name", help="registered model name (default: the original's)")
    parser.add_argument("--reason", help="why (recorded in the audit log)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the fresh-virtualenv verification of a production bundle")
    add_trust_option(parser)


def parse_bindings(pairs: list[str]) -> list[tuple[str, str]]:
    """``["X_train=X_new", ...]`` → ``[("X_train", "X_new"), ...]``, checked."""
    bindings = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier() or not value:
            raise RetrainError(f"--data needs VAR=VALUE with VAR a variable name, got {pair!r}")
        bindings.append((name, value))
    return bindings


def _registered_name(store: Store, run_id: str) -> str | None:
    row = store.conn.execute("SELECT name FROM model_versions WHERE run_id = ? "
                             "ORDER BY created_at DESC LIMIT 1", [run_id]).fetchone()
    return row[0] if row else None


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
    trusted: list[str] | None = None,
    store: Store | None = None,
) -> Run:
    """Re-run the recorded cell of ``run_id`` with ``data`` re-bound; returns the new run.

    Parameters
    ----------
    run_id : the run to retrain (id, prefix or name)
    data : ``{variable: new value}`` — e.g. ``{"X_train": X_new, "y_train": y_new}``
    gate : with ``promote_to``: ``"champion"`` (beat the current holder on the run's
        evaluation data, re-scored), an expression over the new run's metrics, or None
    promote_to : promote the new model to this stage if the gate passes
    name : the registered model name (default: the one the original run was promoted under)
    gate_data : ``(X, y)`` to judge the champion gate on (default: the run's ``--eval`` data)
    trusted : exact extra type names for the promotion's bundle (see :func:`promote`)

    The new run has ``parent_run_id`` = the original, tag ``retrain_of``, and tag
    ``promotion`` saying what happened to it. A refused gate leaves the champion in place.

    Raises
    ------
    RetrainError
        the run cannot be replayed (it names what is missing), or the replayed cell failed
        (the failed run is recorded).
    """
    store = store or open_store()
    original = store.get_run(run_id)
    models = [e.name for e in original.outputs if e.kind == "model"]
    if not models:
        raise RetrainError(f"run {original.run_id} ({original.name}) produced no model: only a "
                           "run that fitted one can be retrained")
    rebound = dict(data or {})
    eval_names = eval_data_names(store, original.run_id)
    cells, missing = replay_plan(original, set(rebound), eval_names or ())
    if missing:
        raise RetrainError(
            f"cannot replay run {original.run_id} ({original.name}): it reads "
            f"{', '.join(sorted(missing))}, which no recorded cell defines. Pass them with "
            f"data={{{', '.join(repr(m) + ': ...' for m in sorted(missing))}}}")
    namespace: dict[str, Any] = {"__name__": "__retrain__", "get_ipython": _NoIPython}
    history = CellHistory()
    for source, analysis in cells:
        namespace.update(rebound)
        try:
            exec(compile(source, "<recorded cell>", "exec"), namespace)  # noqa: S102
        except Exception as exc:
            raise RetrainError(f"replaying a recorded cell of run {original.run_id} failed "
                               f"({type(exc).__name__}: {exc}):\n{source}") from exc
        history.add(source, analysis)
    namespace.update(rebound)
    options = TrackOptions(
        name=original.name, experiment=original.experiment,
        tags={**original.tags, "retrain_of": original.run_id}, models=models[:1],
        eval=eval_names if eval_names and all(n in namespace for n in eval_names) else None)
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
    if promote_to is not None:
        model_name = name or _registered_name(store, original.run_id)
        if model_name is None:
            raise RetrainError(f"run {original.run_id} was never promoted: pass name= to say "
                               "which registered model the retrained one belongs to")
        if gate_data is None and options.eval and eval_names:
            gate_data = (namespace[eval_names[0]], namespace[eval_names[1]])
        try:
            version = promote(recorder.run_id, name=model_name, stage=promote_to, gate=gate,
                              data=gate_data, verify=verify, trusted=trusted, store=store,
                              reason=reason or f"retrained from {original.run_id}")
            outcome = f"promoted as {version.ref} ({promote_to})"
        except PromotionError as exc:
            outcome = f"refused: {exc}"
    store.set_tag(recorder.run_id, "promotion", outcome)
    return store.get_run(recorder.run_id)
