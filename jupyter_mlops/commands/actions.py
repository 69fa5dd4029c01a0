"""The bodies of the commands both front ends offer.

Each takes the store, the arguments parsed with :mod:`.arguments` and the
:class:`~.fronts.Front`, and returns text or data; the front ends only show it (``print`` or
``display()``) and turn errors (:data:`.references.USER_ERRORS`) into an exit code or a
``UsageError``. The lifecycle and its heavy libraries load when a command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NoEvaluationDataError
from ..store import Store
from . import references, views
from .fronts import Front

if TYPE_CHECKING:
    import pandas as pd

    from ..lifecycle.monitoring import MonitorResult
    from ..lifecycle.rollout import RolloutReport


def listed(names: Sequence[str], most: int = 20) -> str:
    """``a, b, c, … (n more)``: the first ``most`` names."""
    shown = ", ".join(names[:most])
    return shown + (f", … ({len(names) - most} more)" if len(names) > most else "")


def runs(store: Store, args: argparse.Namespace) -> tuple[pd.DataFrame, str | None]:
    """``runs``: the runs listed, and why the listing is empty when the store has runs (an
    unknown experiment, or the filters). An unknown sort key or column names the keys."""
    from ..store.listing import check_key

    check_key(store.conn, args.sort, sortable=True)
    for column in columns(args):
        check_key(store.conn, column, sortable=False)
    every = bool(columns(args)) or getattr(args, "frame", False)
    frame = store.runs(args.experiment, status=args.status, sort=args.sort,
                       descending=not args.asc, limit=args.limit, archived=args.archived,
                       params="all" if every else "differing")
    if not frame.empty or not (total := store.count_runs()):
        return frame, None
    status = f"{args.status} " if args.status else ""
    if args.archived == "exclude" and len(store.runs(args.experiment, status=args.status,
                                                     archived="only", limit=1)):
        return frame, (f"no {status}runs that are not archived"
                       + (f" in experiment {args.experiment!r}" if args.experiment else "")
                       + " (`--archived include` lists the archived ones)")
    experiments = store.experiments()
    if args.experiment is not None and args.experiment not in experiments:
        return frame, (f"no runs in experiment {args.experiment!r}; the experiments are: "
                       f"{listed(experiments)}")
    if args.experiment is not None:
        return frame, (f"no {status}runs in experiment {args.experiment!r} (drop --status to "
                       "see its runs)")
    return frame, f"no {status}runs (the store holds {total} runs; drop --status to see them)"


def columns(args: argparse.Namespace) -> list[str]:
    """The columns chosen with ``--columns KEY,...`` (the CLI's table)."""
    chosen = getattr(args, "columns", None)
    return [c.strip() for c in chosen.split(",") if c.strip()] if chosen else []


def events(store: Store, subject: str | None, front: Front) -> str:
    """``events [SUBJECT]``: the audit log, or which subjects it has events for."""
    found = store.events(subject)
    if found or subject is None:
        return views.format_events(found)
    names = sorted({s.split("/")[0] for (s,) in
                    store.conn.execute("SELECT DISTINCT subject FROM events")})
    if not names:
        return f"no events for {subject!r}: the audit log is empty"
    return (f"no events for {subject!r}; the audit log has events for {listed(names)} "
            f"(`{front.prog} events` lists them all)")


def _verify(args: argparse.Namespace) -> bool | None:
    return False if args.no_verify else None


def promote(store: Store, args: argparse.Namespace, front: Front) -> str:
    """``promote RUN --name NAME``: the new version, and the gate it passed. The champion
    gate re-scores on the run's ``--eval`` data, which only the notebook holds."""
    from ..lifecycle.champion import parse_champion
    from ..lifecycle.promotion import promote

    data = (references.eval_data(store, args.run, front)
            if parse_champion(args.gate) is not None else None)
    try:
        version = promote(args.run, name=args.name, stage=args.stage, gate=args.gate,
                          reason=args.reason, force=args.force, verify=_verify(args),
                          data=data, trusted=args.trust, store=store,
                          labels=_labels(args, front))
    except NoEvaluationDataError as exc:
        why = references.no_eval_data(store, args.run, front)
        if why is None:
            raise
        raise NoEvaluationDataError(why) from exc
    return f"{'registered' if version.pending else 'promoted'}: {views.format_version(version)}"


def _labels(args: argparse.Namespace, front: Front) -> Any:
    """The rollout gate's ``--labels``, read by the front end (None when not given)."""
    return None if args.labels is None else front.value(args.labels)


def transition(store: Store, args: argparse.Namespace, front: Front) -> str:
    """``transition NAME VERSION STAGE``."""
    from ..lifecycle.promotion import transition

    version = transition(args.name, args.version, args.stage, args.reason, gate=args.gate,
                         force=args.force, verify=_verify(args), trusted=args.trust,
                         store=store, labels=_labels(args, front))
    return f"{'not moved yet' if version.pending else 'moved'}: {views.format_version(version)}"


def policy(store: Store, args: argparse.Namespace) -> str:
    """``policy [show|set|remove]``: the approval policies, after the change asked."""
    from ..lifecycle import approvals

    if args.action == "set":
        approvals.set_policy(args.stage, approvers=args.approvers,
                             requester_may_approve=args.requester_may_approve,
                             allowed=args.approver, expires_after=args.expires_after * 86400,
                             reason=args.reason, store=store)
    elif args.action == "remove":
        approvals.remove_policy(args.stage, reason=args.reason, store=store)
    return views.format_policies(approvals.policies(store))


def approvals(store: Store, args: argparse.Namespace) -> str:
    """``approvals [NAME]``: the requests waiting, and the policies they wait under."""
    from ..lifecycle.approvals import pending, stuck

    return views.format_requests(pending(args.name, store=store),
                                 [r for r in stuck(store) if args.name in (None, r.name)])


def group(store: Store, args: argparse.Namespace) -> str:
    """``group [show|set|remove] [NAME]``: the approver groups, after the change asked."""
    from ..lifecycle import approvals

    if args.action != "show" and not args.group:
        raise ValueError(f"group {args.action} needs the group's NAME")
    if args.action == "set":
        if not args.member:
            raise ValueError("group set NAME needs at least one --member USER")
        approvals.set_group(args.group, args.member, reason=args.reason, store=store)
    elif args.action == "remove":
        approvals.remove_group(args.group, reason=args.reason, store=store)
    return views.format_groups(approvals.groups(store))


def decide(store: Store, args: argparse.Namespace, approve: bool) -> str:
    """``approve REQUEST`` / ``reject REQUEST``: where the request stands now."""
    from ..lifecycle import approvals

    decide = approvals.approve if approve else approvals.reject
    decision = decide(args.request, reason=args.reason, store=store)
    if decision.move is None:
        return decision.request.describe()
    return (f"{decision.request.describe()}\n"
            f"moved: {views.format_version(decision.move.version)}")


def delete_version(store: Store, args: argparse.Namespace) -> str:
    """``delete-version NAME VERSION --reason R``."""
    from ..capture.environment import user
    from ..store.registry import delete_version

    delete_version(store, args.name, args.version, actor=user(), reason=args.reason)
    return f"deleted {args.name}/{args.version} (its run and model stay in the store)"


def push(store: Store, args: argparse.Namespace) -> str:
    """``push``: what was sent to the MLflow tracking server."""
    from ..sync import push

    return str(push(args.to, args.experiment, args.since, store=store))


def pull(store: Store, args: argparse.Namespace) -> str:
    """``pull``: what came from the MLflow tracking server."""
    from ..sync import pull

    return str(pull(args.from_, args.experiment, store=store))


def config(store: Store, args: argparse.Namespace) -> str:
    """``config [KEY [VALUE]] [--unset]``: the settings, one setting, or its new value."""
    from ..store import settings

    if args.key is None:
        return "\n".join(f"{key} = {value if value is not None else '(not set)'}  # "
                         f"{settings.KEYS[key][0]}"
                         for key, value in settings.settings(store).items())
    if args.unset and args.value is not None:
        raise ValueError("give a VALUE or --unset, not both")
    if args.value is None and not args.unset:
        value = settings.get(store, args.key)
        return f"{args.key} = {value if value is not None else '(not set)'}"
    value = settings.set_value(store, args.key, None if args.unset else args.value,
                               reason=args.reason)
    return f"{args.key} = {value if value is not None else '(not set)'} (recorded in the audit log)"


def export(store: Store, args: argparse.Namespace, front: Front) -> str:
    """``export MODEL PATH``: where the bundle is, and how to serve it."""
    import shlex

    from ..bundle import export_bundle
    from ..lifecycle.operations import split_log
    from .fronts import this_command

    example = None if args.input_example is None else split_log(
        front.table(args.input_example))[0]
    path = export_bundle(args.model, args.path, zip=args.zip, store=store,
                         overwrite=args.overwrite, trusted=args.trust, input_example=example,
                         target=args.target, storage_uri=args.storage_uri)
    served = (f"bundle written to {path}\nserve it with: {this_command()} serve "
              f"{shlex.quote(str(path))}")
    if args.target != "kserve":
        return served
    folder = shlex.quote(str(args.path))
    where = shlex.quote(args.storage_uri) if args.storage_uri else "STORAGE_URI"
    return (f"{served}\ndeploy it on KServe: upload {folder} to {where}, then "
            f"kubectl apply -f {folder}/inferenceservice.yaml"
            + ("" if args.storage_uri else " (in a copy whose storageUri is set: or export "
               "again with --storage-uri)"))


def retrain(store: Store, args: argparse.Namespace, front: Front) -> str:
    """``retrain RUN --data VAR=...``: the new run, and what happened to its promotion."""
    from ..lifecycle.retrain import HOLDOUT_SHARE, parse_bindings, retrain

    data = {name: front.value(value) for name, value in parse_bindings(args.data)}
    _, note = references.picked(store, args.run)
    run = retrain(args.run, data=data, gate=args.gate, promote_to=args.promote_to,
                  name=args.name, reason=args.reason, verify=_verify(args),
                  holdout=HOLDOUT_SHARE if args.holdout is None else args.holdout,
                  trusted=args.trust, store=store)
    return (f"{note}retrained: run {run.run_id} ({run.name}) from {run.parent_run_id}\n"
            f"{run.tags.get('promotion')}")


def thresholds(pairs: Sequence[str]) -> dict[str, float]:
    """``["share=0.3", ...]`` → ``{"share": 0.3, ...}``, checked."""
    parsed = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            parsed[key] = float(value)
        except ValueError:
            raise ValueError(f"--threshold needs KEY=NUMBER, got {pair!r}") from None
    return parsed


def monitor(store: Store, args: argparse.Namespace, front: Front) -> MonitorResult:
    """``monitor MODEL DATA``: the checked (and stored) batch."""
    from ..lifecycle.monitoring import monitor

    if args.data is None:
        raise ValueError(f"{front.prog} monitor MODEL DATA: give the batch {front.source} (or "
                         "--history to list the stored batches)")
    data = front.table(args.data)
    labels = None
    if args.label_column:  # not popped: the notebook's frame stays as it is
        if args.label_column not in getattr(data, "columns", ()):
            raise ValueError(f"{args.data} has no column {args.label_column!r}")
        labels, data = data[args.label_column], data.drop(columns=[args.label_column])
    elif args.labels:
        labels = front.value(args.labels)
    return monitor(args.model, data, labels=labels, thresholds=thresholds(args.threshold),
                   drift_alert=args.drift_alert, store=store)


def monitor_history(store: Store, args: argparse.Namespace, front: Front) -> str:
    """``monitor MODEL --history``: one line per stored batch, oldest first."""
    from ..lifecycle.monitoring import drift_history, performance_history

    if args.data is not None:
        raise ValueError("monitor --history lists stored batches and takes no DATA")
    model = args.model
    drift, performance = drift_history(store, model), performance_history(store, model)
    if drift.empty and performance.empty:
        batch = "DATA" if front.notebook else "BATCH.csv"
        return (f"no monitoring batches for {model!r} yet: check one with {front.prog} "
                f"monitor {model} {batch}")
    return views.format_monitor_history(drift, performance)


def drift(store: Store, args: argparse.Namespace, front: Front) -> Any:
    """``drift REF CUR``: the drift report of CUR against REF (data, or the training data's
    profile of a run or model)."""
    from ..drift import drift

    return drift(references.reference_data(store, args.reference, front),
                 front.value(args.current))


def _named(store: Store, run_ids: Sequence[str]) -> str:
    """``name (id), …`` of runs."""
    names = dict(store.conn.execute(
        f"SELECT run_id, name FROM runs WHERE run_id IN ({','.join('?' * len(run_ids))})",
        list(run_ids)))
    return ", ".join(f"{names.get(run_id, '?')} ({run_id})" for run_id in run_ids)


def tag(store: Store, args: argparse.Namespace) -> str:
    """``tag RUN K=V... [--remove K]...``: the run's tags afterwards."""
    from ..store.tidy import edit_tags

    tags = {}
    for pair in args.pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"a tag is K=V, got {pair!r} (to remove one: --remove {pair})")
        tags[key] = value
    if not tags and not args.remove:
        raise ValueError("tag RUN K=V... [--remove K]: name a tag to set or to remove")
    run_id = store.resolve_run_id(args.run)
    now = edit_tags(store, run_id, tags, args.remove)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(now.items())) or "none"
    return f"run {_named(store, [run_id])}: tags {shown}"


def note(store: Store, args: argparse.Namespace) -> str:
    """``note RUN TEXT``."""
    run_id = store.resolve_run_id(args.run)
    store.set_note(run_id, args.text)
    what = f"note saved ({len(args.text)} characters)" if args.text else "note cleared"
    return f"run {_named(store, [run_id])}: {what}"


def archive(store: Store, args: argparse.Namespace, front: Front, *, restore: bool = False
            ) -> str:
    """``archive RUN...`` (or ``restore RUN...``): which runs changed, which already were."""
    ids = [store.resolve_run_id(ref) for ref in args.runs]
    changed = store.restore_runs(ids) if restore else store.archive_runs(ids)
    verb = "restored" if restore else "archived"
    done = f"{verb} {len(changed)} run(s)" + (f": {_named(store, changed)}" if changed else "")
    same = [run_id for run_id in dict.fromkeys(ids) if run_id not in changed]
    if same:
        done += f"; already {'not archived' if restore else 'archived'}: {_named(store, same)}"
    if changed and not restore:
        done += f"\n(hidden from listings: `{front.prog} runs --archived include` lists them)"
    return done


def delete(store: Store, args: argparse.Namespace) -> str:
    """``delete RUN... --yes`` (without ``--yes``: what it would delete, as an error)."""
    named = _named(store, [store.resolve_run_id(ref) for ref in args.runs])
    if not args.yes:
        raise ValueError(f"this would delete the records of {named}; nothing was deleted: add "
                         "--yes to delete (archive hides a run instead)")
    deleted = store.delete_runs(args.runs)
    return (f"deleted {len(deleted)} run(s): {named}\nartifact files that nothing references "
            "now are removed by `jupyter-mlops doctor --fix`")


def rollout(store: Store | None, args: argparse.Namespace, front: Front) -> RolloutReport:
    """``rollout NAME|LOG``: the rollout report, with the labels when given (a LOG file
    needs no store)."""
    from ..lifecycle.rollout import rollout_report

    labels = None if args.labels is None else front.value(args.labels)
    return rollout_report(args.rollout, labels, metric=args.metric,
                          label_column=args.label_column, alpha=args.alpha, store=store)
