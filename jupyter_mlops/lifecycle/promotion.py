"""Promotion: a tracked model becomes a registered version, through gates, with an audit trail.

``promote(run, name=..., stage=..., gate=...)`` checks the gate (an expression over the run's
metrics; ``"champion"``: beat the current holder of the stage on the same evaluation data,
re-scored now; or ``"rollout"``: the verdict of the model's served rollout, with labels),
verifies the deployment bundle in a fresh virtualenv before ``production``,
and records the decision — passed, refused or forced — in the audit log.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from ..capture.environment import user
from ..errors import (
    ApprovalError,
    BundleError,
    GateError,
    NoEvaluationDataError,
    NotFoundError,
    PromotionError,
)
from ..store import Store, approvals, open_store, registry
from ..store.approvals import ApprovalRequest
from ..store.registry import ModelVersion, get_version, register_version
from .champion import ChampionRule, compare_models, parse_champion
from .gates import Condition, GateResult, evaluate_gate
from .rollout import parse_rollout, rollout_gate


def _model_output(store: Store, run_id: str, variable: str | None) -> tuple[str, str]:
    """(variable, fingerprint) of the model the run produced."""
    run = store.get_run(run_id)
    models = [e for e in run.outputs if e.kind == "model"]
    if variable is not None:
        models = [e for e in models if e.name == variable]
    if not models:
        raise PromotionError(f"run {run_id} ({run.name}) produced no model"
                             + (f" named {variable!r}" if variable else "")
                             + ": only runs whose cell fitted a model can be promoted")
    return models[0].name, models[0].fingerprint


def champion_gate(store: Store, name: str, stage: str, candidate: Any,
                  data: tuple[Any, Any] | None, rule: ChampionRule | None = None
                  ) -> GateResult:
    """The candidate must beat the current holder of ``stage`` on the same rows, both
    re-scored now, as :mod:`jupyter_mlops.champion` defines it."""
    rule = rule or ChampionRule()
    expression = f"{rule.describe()} ({name}@{stage})"
    try:
        holder = get_version(store, f"{name}@{stage}")
    except NotFoundError:
        return GateResult(expression, True, [Condition("no current champion", 1.0, 0.0, True)])
    if data is None:
        raise NoEvaluationDataError(
            f"gate 'champion' re-scores this model and {holder.ref} on the same evaluation "
            "data, which the command line cannot load: promote from the notebook (`%mlops "
            "promote RUN --gate champion` finds the run's --eval data) or from Python with "
            "mlops.promote(..., data=(X, y))"
        )
    from ..bundle.export import load_run_model  # a torch module: outside its kernel too

    X, y = data
    champion = load_run_model(store, holder.run_id, holder.model_variable)
    return compare_models(candidate, champion, X, y, rule=rule,
                          champion_label=f"{holder.ref} ({name}@{stage})", expression=expression)


def eval_data_names(store: Store, run_id: str) -> tuple[str, str] | None:
    """The variable names a run was evaluated on with ``--eval X Y``, if it was."""
    for entity in store.get_run(run_id).outputs:
        if entity.kind == "artifact" and entity.name == "predictions" and "X" in entity.detail:
            return entity.detail["X"], entity.detail["y"]
    return None


def promote(
    run_or_model: str,
    *,
    name: str,
    stage: str | None = None,
    gate: str | None = None,
    reason: str | None = None,
    force: bool = False,
    verify: bool | None = None,
    data: tuple[Any, Any] | None = None,
    model_variable: str | None = None,
    trusted: list[str] | None = None,
    store: Store | None = None,
    actor: str | None = None,
    labels: Any = None,
) -> ModelVersion:
    """Register the model of a run as the next version of ``name``, gated and audited.

    When an approval policy guards ``stage`` (:mod:`jupyter_mlops.lifecycle.approvals`), the
    version is registered without it and a request to move it there waits for the approvers
    (``version.pending``); the verification runs when the request is approved.

    Parameters
    ----------
    run_or_model : run id, unique id prefix, run name, or a model reference (``other/2``)
    name : the registered model's name
    stage : ``staging``, ``production``, ``archived``, or a free alias such as ``champion``
    gate : an expression over the run's metrics (``"auc>=0.9 and f1>0.8"``), ``"champion"``
        (see :mod:`jupyter_mlops.champion`; options: ``"champion(min_improvement=0.01,
        test='bootstrap')"``) or ``"rollout"``: the run's model is the challenger of the
        rollout of ``name`` (``jupyter-mlops serve NAME --champion … --challenger …``) and
        :func:`~jupyter_mlops.lifecycle.rollout.rollout_report` says ``promote challenger``
        on its request log and ``labels`` (options: ``"rollout(min_improvement=0.01,
        log='requests.jsonl')"``, see :class:`~jupyter_mlops.lifecycle.rollout.RolloutRule`)
    reason : why; recorded in the audit log (required with ``force``)
    force : promote even when the gate fails (recorded as a gate override)
    verify : build the bundle, serve it from a fresh virtualenv and compare its answers
        before promoting; default True for ``production``. ``False`` is recorded.
    data : ``(X, y)`` evaluation data for ``gate="champion"``
    labels : the rollout's true targets for ``gate="rollout"`` (a mapping request id →
        label, or a frame with ``request_id``, ``label`` and, for requests of several rows,
        ``row``)
    model_variable : which model, when the run produced several
    trusted : exact type or function names the model may contain beyond the bundle loader's
        allowlist, for the bundle built and served by the verification (``--trust``)
    actor : who promotes, for the audit log and the approval policy (default: :func:`user`)

    Raises
    ------
    PromotionError
        the gate failed (without ``force``) or the verification failed; nothing is registered.
    """
    store = store or open_store(create=False)
    actor = actor or user()
    policy = approvals.policy_for(store, stage)
    if policy is not None and not reason:
        approvals.require_reason(name, policy.stage)
    if "/" in run_or_model or "@" in run_or_model:
        source = get_version(store, run_or_model)
        run_id, model_variable = source.run_id, source.model_variable
    else:
        run_id = store.resolve_run_id(run_or_model)
    registry.require_finished(store, run_id)
    variable, fingerprint = _model_output(store, run_id, model_variable)
    audit = check_move(store, name=name, run_id=run_id, variable=variable, stage=stage,
                       gate=gate, reason=reason, force=force,
                       verify=False if policy else verify, data=data, trusted=trusted,
                       actor=actor, labels=labels)
    if policy is not None:
        audit["verification"] = "when the move to the stage is approved"
    version = register_version(store, name=name, run_id=run_id, model_fingerprint=fingerprint,
                               model_variable=variable, actor=actor,
                               label=None if policy else stage, reason=reason, audit=audit)
    if policy is None or stage is None:
        return version
    return move_version(name, version.version, stage, reason, force=force, verify=verify,
                        trusted=trusted, store=store, actor=actor).version


def check_move(store: Store, *, name: str, run_id: str, variable: str, stage: str | None,
               gate: str | None, reason: str | None, force: bool, verify: bool | None,
               data: tuple[Any, Any] | None, trusted: list[str] | None = None,
               actor: str | None = None, labels: Any = None) -> dict[str, Any]:
    """The gate and the verification of putting a run's model under ``name`` at ``stage``:
    what :func:`promote` and a :func:`transition` to production both decide by.

    Returns the audit detail (``gate``, ``forced``, ``verification``); a refusal is audited
    and raised as :class:`PromotionError`.
    """
    if force and not reason:
        raise PromotionError("forcing past a gate (force=True, --force) needs a reason "
                             "(reason=..., --reason TEXT): it is audited")
    audit: dict[str, Any] = {}
    actor = actor or user()
    rollout = parse_rollout(gate)
    if labels is not None and rollout is None:
        raise PromotionError("labels are what the rollout gate judges a served rollout by: "
                             "give them with gate='rollout' (--gate rollout), or leave them out")
    if gate is not None:
        rule = parse_champion(gate)
        if rollout is not None:
            result: GateResult = rollout_gate(store, name, run_id, labels, rollout)
        elif rule is not None:
            from ..bundle.export import load_run_model

            candidate = load_run_model(store, run_id, variable)
            result = champion_gate(store, name, stage or "production", candidate, data, rule)
        else:
            result = evaluate_gate(gate, store.get_run(run_id).metrics)
        audit["gate"] = result.as_dict()
        if not result.passed:
            if not force:
                registry.record_refusal(store, name=name, run_id=run_id, actor=actor,
                                        detail=audit, reason=reason)
                raise PromotionError(f"gate refused the promotion of run {run_id} to {name}: "
                                     f"{result.describe()}")
            audit["forced"] = True
    if verify is None:
        verify = stage == "production"
    if verify:
        try:
            audit["verification"] = _verify(store, run_id, variable, trusted or [])
        except PromotionError as exc:
            registry.record_refusal(store, name=name, run_id=run_id, actor=actor,
                                    detail={**audit, "verification": str(exc)}, reason=reason)
            raise
    elif stage == "production":
        audit["verification"] = "skipped (verify=False)"
    return audit


def _verify(store: Store, run_id: str, variable: str, trusted: list[str]) -> str:
    from ..bundle.export import export_bundle, load_run_model
    from ..bundle.verify import verify_bundle

    with tempfile.TemporaryDirectory(prefix="mlops-verify-") as scratch:
        try:
            bundle = export_bundle(run_id, f"{scratch}/bundle", store=store, trusted=trusted)
        except (NotFoundError, BundleError) as exc:
            raise PromotionError(f"the bundle of run {run_id} could not be built for its "
                                 f"verification, so it was not promoted: {exc}") from None
        outcome = verify_bundle(bundle, load_run_model(store, run_id, variable), trusted=trusted,
                                trust_code=True)  # its notebook code: just captured by us
    if not outcome.ok:
        raise PromotionError(f"the bundle of run {run_id} failed verification, so it was not "
                             f"promoted: {outcome.detail}")
    return outcome.detail


@dataclass(frozen=True)
class Move:
    """A version moved to a stage or alias, with the checks that ran (the audit detail:
    ``gate``, ``forced``, ``verification``; empty when none did) — or, under an approval
    policy, not moved yet: ``pending`` is the request that waits for the approvers."""

    version: ModelVersion
    checks: dict[str, Any]
    pending: ApprovalRequest | None = None


def move_version(name: str, version: int, stage: str, reason: str | None = None, *,
                 gate: str | None = None, force: bool = False, verify: bool | None = None,
                 data: tuple[Any, Any] | None = None, trusted: list[str] | None = None,
                 store: Store | None = None, actor: str | None = None,
                 request: int | None = None, labels: Any = None) -> Move:
    """Move version ``version`` of ``name`` to ``stage`` (or point an alias at it); audited.

    When an approval policy guards ``stage``, nothing moves yet: a request waits for the
    approvers (``Move.pending``), and the move, with the checks below, runs when it is
    approved (:func:`jupyter_mlops.lifecycle.approvals.approve` passes ``request``: the
    number of the approved request this move carries out).

    A move to ``production`` decides like :func:`promote` (:func:`check_move`): it needs a
    ``reason``; the ``gate`` runs (by default the expression gate the version was registered
    with, re-checked) and the bundle is verified in a fresh virtualenv unless
    ``verify=False`` (audited). A move elsewhere runs a ``gate`` only when one is given.
    ``trusted`` widens the bundle loader's allowlist for the verification, and ``labels``
    are the rollout gate's, as in ``promote``.

    Raises
    ------
    PromotionError
        no reason for production, a failed gate (without ``force``) or verification.
    """
    store = store or open_store(create=False)
    actor = actor or user()
    current = get_version(store, f"{registry.check_name(name)}/"
                                 f"{registry.check_version(version)}")
    if request is None:
        policy = approvals.policy_for(store, stage)
        if policy is not None:
            if gate is not None and _needs_data(gate):
                raise ApprovalError(
                    f"the {gate.split('(')[0].strip()} gate judges data (evaluation rows, a "
                    f"rollout's labels) which an approver does not hold; moves to {stage} wait "
                    "for approval: give an expression gate, or promote with this gate (it runs "
                    "when the version is registered)")
            options = {"gate": gate, "force": force or None, "verify": verify,
                       "trusted": trusted or None}  # what the approved move runs with
            pending = approvals.create_request(
                store, name=name, version=version, stage=stage, policy=policy, actor=actor,
                reason=reason, options={k: v for k, v in options.items() if v is not None})
            return Move(get_version(store, current.ref), {}, pending)
    else:
        approvals.check_approved(store, request, name, version, stage)
    checks = _checks(store, current, stage, reason, gate=gate, force=force, verify=verify,
                     data=data, trusted=trusted, actor=actor, labels=labels)
    with store.transaction() as conn:
        if request is not None:  # again, under the write lock: not carried out meanwhile
            approvals.check_approved(store, request, name, version, stage)
        moved = registry.transition(store, name, version, stage, actor=actor, reason=reason,
                                    detail={**checks, **({"request": request} if request
                                                         else {})})
        if request is not None:
            approvals.finish(conn, approvals.get_request(store, request), actor=actor,
                             applied=True, outcome=f"{current.ref} moved to {stage}")
    return Move(moved, checks)


def _checks(store: Store, current: ModelVersion, stage: str, reason: str | None, *,
            gate: str | None, force: bool, verify: bool | None,
            data: tuple[Any, Any] | None, trusted: list[str] | None, actor: str,
            labels: Any = None) -> dict[str, Any]:
    """The checks :func:`move_version` runs before moving ``current`` to ``stage``."""
    checks: dict[str, Any] = {}
    if stage == "production":
        if not reason:
            raise PromotionError(f"moving {current.ref} to production needs a reason "
                                 "(reason=..., --reason TEXT): it is audited")
        recorded = (current.gate or {}).get("expression")
        if gate is None and isinstance(recorded, str) and not _needs_data(recorded):
            gate = recorded
    if stage == "production" or gate is not None:
        checks = check_move(store, name=current.name, run_id=current.run_id,
                            variable=current.model_variable, stage=stage, gate=gate,
                            reason=reason, force=force, verify=verify, data=data,
                            trusted=trusted, actor=actor, labels=labels)
    return checks


def _needs_data(gate: str) -> bool:
    """Whether a gate judges data beyond the run's metrics (champion: evaluation rows;
    rollout: the rollout's labels): it runs when given, never re-checked later."""
    try:
        return parse_champion(gate) is not None or parse_rollout(gate) is not None
    except GateError:  # a malformed champion(...) or rollout(...): refused where it runs
        return True


def transition(name: str, version: int, stage: str, reason: str | None = None, *,
               gate: str | None = None, force: bool = False, verify: bool | None = None,
               data: tuple[Any, Any] | None = None, trusted: list[str] | None = None,
               store: Store | None = None, labels: Any = None) -> ModelVersion:
    """Move version ``version`` of ``name`` to ``stage`` (or point an alias at it), checked
    and audited as :func:`move_version` says; returns the moved version (not moved yet, with
    ``pending`` set, when the move waits for approval)."""
    return move_version(name, version, stage, reason, gate=gate, force=force, verify=verify,
                        data=data, trusted=trusted, store=store, labels=labels).version
