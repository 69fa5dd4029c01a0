"""``jupyter-mlops`` / ``jupyter mlops``: a thin shell over the store."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .bundle.trust import add_trust_code_option, add_trust_option
from .commands import views as report
from .data.tables import read_table
from .errors import EmptyStoreError, MLOpsError, StoreError, StoreNotFoundError
from .lifecycle.promotion import add_check_options, add_promotion_options
from .lifecycle.retrain import add_retrain_options
from .store import Store, open_store
from .store.listing import check_key

DESCRIPTION = (
    "Work with a jupyter-mlops store from a terminal: browse the runs your %%track cells "
    "recorded and their lineage, promote models through the registry (gates, stages, the "
    "audit log), export and serve deployment bundles, monitor new data for drift and "
    "performance, and retrain on it."
)
EPILOG = (
    "--store goes before or after the command. Only monitor and watch (which record batches, "
    "also of a bundle's model) create a store that does not exist yet; every other command "
    "needs an existing one."
)
STORE_HELP = ("store directory, before or after the command (default: $JUPYTER_MLOPS_STORE, "
              "else the nearest .mlops/ upwards)")
RUN_HELP = ("run id, unique id prefix, NAME@STAGE or NAME/VERSION (the run of that model "
            "version), or run name (its latest tracked run)")
# The commands that may create the store (they record monitoring batches, also for a bundle's
# model); every other one needs records that exist, so a mistyped path is an error.
CREATE_STORE = {"monitor", "watch"}


def _store_option(default: Any) -> argparse.ArgumentParser:
    """``--store``, accepted before the command (default None) and after it (SUPPRESS, so a
    command's parser does not overwrite a value given before the command)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", metavar="PATH", default=default, help=STORE_HELP)
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter-mlops", description=DESCRIPTION,
                                     epilog=EPILOG, parents=[_store_option(None)])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    after = [_store_option(argparse.SUPPRESS)]

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, parents=after)

    runs = command("runs", "list the latest runs")
    runs.add_argument("-e", "--experiment", help="only this experiment")
    runs.add_argument("--status", help="only runs with this status (running, finished, "
                      "failed, interrupted)")
    runs.add_argument("-n", "--limit", type=int, default=20, help="how many (default 20)")
    runs.add_argument("--sort", default="started_at", metavar="KEY",
                      help="started_at (default), duration_s, name, status, experiment, "
                      "run_id, updated_at, metrics.K or params.K; highest/newest first")
    runs.add_argument("--asc", action="store_true",
                      help="ascending order: lowest first (e.g. for rmse or log_loss)")
    runs.add_argument("--columns", metavar="KEY,...",
                      help="the metric and param columns to show, e.g. "
                      "metrics.roc_auc,params.C (default: the sort key and the first "
                      f"{report.METRIC_COLUMNS} metrics)")
    show = command("show", "everything recorded about a run")
    show.add_argument("run", help=RUN_HELP)
    lineage = command("lineage", "runs upstream and downstream of a run")
    lineage.add_argument("run", help=RUN_HELP)
    doctor = command("doctor", "check the store's integrity, its audit chain and its anchors; "
                     "exit 1 on a problem")
    doctor.add_argument("--fix", action="store_true",
                        help="remove artifact files that no record refers to (left by a crash "
                        "before their run was committed)")
    doctor.add_argument("--adopt-key", action="store_true",
                        help="start the signed audit chain with the audit key just configured; "
                        "refused when anything records that the store had a key before")
    doctor.add_argument("--bundle", action="append", default=[], metavar="PATH",
                        help="also check the audit head recorded in this bundle's lineage.json "
                        "(repeatable)")
    promote = command("promote", "register a run's model as a new version")
    promote.add_argument("run", help="run id, prefix or name")
    add_promotion_options(promote)
    move = command("transition", "move a model version to a stage or alias")
    move.add_argument("name", help="registered model name")
    move.add_argument("version", type=int, help="version number")
    move.add_argument("stage", help="staging, production, archived, or an alias")
    add_check_options(move)
    command("models", "registered models and their versions")
    delete = command("delete-version", "remove a model version (audited)")
    delete.add_argument("name", help="registered model name")
    delete.add_argument("version", type=int, help="version number")
    delete.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    events = command("events", "the audit log, newest first")
    events.add_argument("subject", nargs="?", help="a model name or NAME/VERSION")
    export = command("export", "write a deployment bundle")
    export.add_argument("model", help="NAME@STAGE, NAME/VERSION, or a run id/name")
    export.add_argument("path", help="the bundle directory to create")
    export.add_argument("--zip", action="store_true", help="also write PATH.zip")
    export.add_argument("--overwrite", action="store_true",
                        help="replace PATH (and PATH.zip) if it exists")
    add_trust_option(export)
    retrain = command("retrain", "re-run a run's recorded cell on new data")
    add_retrain_options(retrain)
    check = command("monitor", "check a batch of new data against a model; exit 1 on an alert")
    check.add_argument("model", help="NAME@STAGE, NAME/VERSION, a run, or a bundle path")
    check.add_argument("data", nargs="?", help="the batch: .csv, .parquet or .jsonl (a "
                       "serve.py request log works as it is)")
    check.add_argument("--labels", metavar="FILE", help="the batch's true targets")
    check.add_argument("--label-column", metavar="COL", help="the targets are this column")
    check.add_argument("--threshold", action="append", default=[], metavar="KEY=VALUE",
                       help="share=0.3, accuracy=0.02 (allowed drop), COLUMN=cut-off")
    check.add_argument("--json", action="store_true", help="print a JSON report")
    check.add_argument("--history", action="store_true",
                       help="list the batches stored for MODEL instead of checking one")
    loop = command("watch", "monitor new batch files; retrain and promote on drift")
    loop.add_argument("model", help="NAME@STAGE (or a run)")
    loop.add_argument("directory", help="each new .csv/.parquet/.jsonl file is a batch")
    loop.add_argument("--target", help="the label column of the batches")
    loop.add_argument("--every", type=float, default=60.0, metavar="SECONDS",
                      help="seconds between polls (default 60)")
    loop.add_argument("--max-batches", type=int, metavar="N",
                      help="stop after N batches (default: run until interrupted)")
    loop.add_argument("--no-retrain", action="store_true", help="only monitor")
    loop.add_argument("--gate", default="champion",
                      help="champion (default) or a metrics expression")
    loop.add_argument("--promote-to", default="production", metavar="STAGE",
                      help="promote a retrained model that passes the gate (default production)")
    loop.add_argument("--no-verify", action="store_true",
                      help="skip the fresh-virtualenv verification of a production bundle")
    add_trust_option(loop)
    serve = command("serve", "serve a bundle over HTTP")
    serve.add_argument("bundle", help="bundle directory or .zip")
    serve.add_argument("--host", default="127.0.0.1",
                       help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="default 8080")
    serve.add_argument("--log-requests", metavar="FILE.jsonl",
                       help="log the scored features and predictions (rotated) for monitoring")
    add_trust_option(serve)
    add_trust_code_option(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`jupyter-mlops events | head`): stop quietly, and point
        # stdout at devnull so the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    creates = args.command in CREATE_STORE and not getattr(args, "history", False)
    try:
        if args.command == "serve":
            return _serve(args.bundle, args.host, args.port, args.log_requests, args.trust,
                          args.trust_code, args.store)
        with open_store(args.store, create=creates) as store:
            if args.command == "doctor":
                return _doctor(store, fix=args.fix, bundles=args.bundle,
                               adopt=args.adopt_key)
            if args.command == "monitor":
                return _monitor(args, store)
            if args.command == "watch":
                return _watch(args, store)
            if args.command == "retrain":
                print(_retrain(args, store))
            elif args.command == "runs":
                print(_runs(args, store))
            elif args.command == "events":
                print(_events(args.subject, store))
            elif args.command in ("promote", "transition", "models", "export",
                                  "delete-version"):
                print(_registry_command(args, store))
            elif args.command == "show":
                print(report.show_run(store, args.run))
            elif args.command == "lineage":
                print(report.format_lineage(store, args.run))
    except StoreNotFoundError as exc:
        message = str(exc)
        if exc.origin == "path":
            message = (f"no jupyter-mlops store at {exc.directory} (it has no lineage.db); "
                       "check --store, or run a tracked cell first")
        print(f"jupyter-mlops: {message}", file=sys.stderr)
        return 1
    except (MLOpsError, ValueError) as exc:
        if args.command == "doctor" and isinstance(exc, EmptyStoreError):
            print(f"problem: {exc}")  # the store's problem is doctor's finding
            return 1
        print(f"jupyter-mlops: {exc}", file=sys.stderr)
        return 2
    return 0


def _listed(names: Sequence[str], most: int = 20) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", … ({len(names) - most} more)" if len(names) > most else "")


def _runs(args: argparse.Namespace, store: Store) -> str:
    check_key(store.conn, args.sort, sortable=True)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else []
    for column in columns:
        check_key(store.conn, column, sortable=False)
    frame = store.runs(args.experiment, status=args.status, sort=args.sort,
                       descending=not args.asc, limit=args.limit,
                       params="all" if columns else "differing")
    if frame.empty and (total := store.count_runs()):
        return _no_runs(args, store, total)
    return report.format_runs(frame, args.sort, columns)


def _no_runs(args: argparse.Namespace, store: Store, total: int) -> str:
    """Why the listing of a store with runs is empty: an unknown experiment, or the filters."""
    status = f"{args.status} " if args.status else ""
    experiments = store.experiments()
    if args.experiment is not None and args.experiment not in experiments:
        return (f"no runs in experiment {args.experiment!r}; the experiments are: "
                f"{_listed(experiments)}")
    if args.experiment is not None:
        return f"no {status}runs in experiment {args.experiment!r} (drop --status to see its runs)"
    return f"no {status}runs (the store holds {total} runs; drop --status to see them)"


def _events(subject: str | None, store: Store) -> str:
    events = store.events(subject)
    if events or subject is None:
        return report.format_events(events)
    names = sorted({s.split("/")[0] for (s,) in
                    store.conn.execute("SELECT DISTINCT subject FROM events")})
    if not names:
        return f"no events for {subject!r}: the audit log is empty"
    return (f"no events for {subject!r}; the audit log has events for {_listed(names)} "
            "(`jupyter-mlops events` lists them all)")


def _registry_command(args: argparse.Namespace, store: Store) -> str:
    from .bundle import export_bundle
    from .lifecycle.promotion import promote, transition

    if args.command == "promote":
        version = promote(args.run, name=args.name, stage=args.stage, gate=args.gate,
                          reason=args.reason, force=args.force,
                          verify=False if args.no_verify else None, trusted=args.trust,
                          store=store)
        return report.format_version(version)
    if args.command == "transition":
        return report.format_version(transition(
            args.name, args.version, args.stage, args.reason, gate=args.gate, force=args.force,
            verify=False if args.no_verify else None, trusted=args.trust, store=store))
    if args.command == "models":
        return report.format_models(store.models())
    if args.command == "delete-version":
        from .capture.environment import user
        from .store.registry import delete_version

        delete_version(store, args.name, args.version, actor=user(), reason=args.reason)
        return f"deleted {args.name}/{args.version} (its run and model stay in the store)"
    path = export_bundle(args.model, args.path, zip=args.zip, store=store,
                         overwrite=args.overwrite, trusted=args.trust)
    return (f"bundle written to {path}\nserve it with: {this_command()} serve "
            f"{shlex.quote(str(path))}")


def this_command() -> str:
    """How to run this CLI again from the current shell, as it would be typed: plain
    ``jupyter-mlops`` when that is on PATH and is this installation, else the script beside
    this Python (``.venv/bin/jupyter-mlops``), else ``python -m jupyter_mlops.cli``."""
    here = Path(sys.executable).parent
    script = here / "jupyter-mlops"
    found = shutil.which("jupyter-mlops")
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return "jupyter-mlops"

    def typed(path: Path) -> str:
        relative = os.path.relpath(path)
        shown = relative if not relative.startswith("..") else str(path)
        return shlex.quote(shown if os.sep in shown else f".{os.sep}{shown}")

    if script.exists():
        return typed(script)
    return f"{typed(Path(sys.executable))} -m jupyter_mlops.cli"


def _retrain(args: argparse.Namespace, store: Store) -> str:
    from .lifecycle.retrain import parse_bindings, retrain

    data = {name: read_table(path) for name, path in parse_bindings(args.data)}
    picked = store.resolve_run(args.run).note
    run = retrain(args.run, data=data, gate=args.gate, promote_to=args.promote_to,
                  name=args.name, reason=args.reason, verify=False if args.no_verify else None,
                  trusted=args.trust, store=store)
    return ((f"({picked})\n" if picked else "")
            + f"retrained: run {run.run_id} ({run.name}) from {run.parent_run_id}\n"
            f"{run.tags.get('promotion')}")


def _monitor(args: argparse.Namespace, store: Store) -> int:
    import json

    from .bundle.serve import LOG_FIELDS
    from .lifecycle.monitoring import monitor

    if args.history:
        if args.data is not None:
            raise ValueError("monitor --history lists stored batches and takes no DATA")
        print(_monitor_history(args.model, store))
        return 0
    if args.data is None:
        raise ValueError("monitor MODEL DATA: give the batch file (or --history to list the "
                         "stored batches)")
    data = read_table(args.data, squeeze=False)
    data = data.drop(columns=[c for c in LOG_FIELDS if c in data.columns])
    labels = None
    if args.label_column:
        if args.label_column not in data.columns:
            raise ValueError(f"{args.data} has no column {args.label_column!r}")
        labels = data.pop(args.label_column)
    elif args.labels:
        labels = read_table(args.labels)
    thresholds = {}
    for pair in args.threshold:
        key, sep, value = pair.partition("=")
        try:
            thresholds[key] = float(value)
        except ValueError:
            raise ValueError(f"--threshold needs KEY=NUMBER, got {pair!r}") from None
    result = monitor(args.model, data, labels=labels, thresholds=thresholds, store=store)
    print(json.dumps(result.as_dict(), indent=1) if args.json else result.summary())
    return 1 if result.alerts else 0


def _monitor_history(model: str, store: Store) -> str:
    """One line per stored batch of ``model``, oldest first."""
    from .lifecycle.monitoring import drift_history, performance_history

    drift, performance = drift_history(store, model), performance_history(store, model)
    if drift.empty and performance.empty:
        return (f"no monitoring batches for {model!r} yet: check one with "
                f"jupyter-mlops monitor {model} BATCH.csv")
    lines = []
    for batch, rows in drift.groupby("batch", sort=False):
        first = rows.iloc[0]
        drifted = ", ".join(rows.loc[rows["drifted"], "column"])
        alerts = int(first["alerts"])
        status = "DRIFT" if first["batch_drifted"] else "ALERT" if alerts else "ok"
        line = (f"batch {batch:>4}  {first['at'].tz_convert(None):%Y-%m-%d %H:%M:%S}  "
                f"{status:<5}  {first['share_drifted']:.0%} of columns drifted"
                + (f" ({drifted})" if drifted else "")
                + (f" · {alerts} alert{'s' if alerts > 1 else ''}" if alerts else ""))
        scored = performance[performance["batch"] == batch]
        line += "".join(f" · {m} {_number(c)} (training {_number(t)})" for m, c, t in
                        zip(scored["metric"], scored["current"], scored["training"],
                            strict=True))
        lines.append(line)
    return "\n".join(lines)


def _number(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.4g}"


def _watch(args: argparse.Namespace, store: Store) -> int:
    from .lifecycle.watch import watch

    for step in watch(args.model, args.directory, every=args.every, target=args.target,
                      retrain=not args.no_retrain, gate=args.gate, promote_to=args.promote_to,
                      max_batches=args.max_batches,
                      verify=False if args.no_verify else None, trusted=args.trust,
                      store=store):
        print(f"{step.source}: {'DRIFT' if step.drifted else 'ok'} · {step.alerts} alert(s) · "
              f"{step.outcome}", flush=True)
    return 0


def _serve(bundle: str, host: str, port: int, log_requests: str | None,
           trusted: list[str], trust_code: bool, store_path: str | None) -> int:
    from .bundle import serve
    from .bundle.load import code_recorded, unpacked

    extra = ["--log-requests", log_requests] if log_requests else []
    extra += [arg for name in trusted for arg in ("--trust", name)]
    root = unpacked(bundle)
    if not trust_code and store_path is not None:  # the store named, else the one found
        try:
            with open_store(store_path, create=False) as store:
                trust_code = code_recorded(root, store)
        except StoreError:
            pass
    if trust_code or (store_path is None and code_recorded(root)):
        extra.append("--trust-code")
    return serve.main(["--bundle", str(root), "--host", host, "--port", str(port), *extra])


def _doctor(store: Store, *, fix: bool, bundles: list[str], adopt: bool) -> int:
    from .capture.environment import user
    from .store.doctor import adopt_key, diagnose, repair

    paths = [Path(b) for b in bundles]
    print(f"store    {store.directory}")
    print(f"schema   {', '.join(store.schema_version)}")
    print(f"runs     {store.count_runs()}")
    if adopt:
        print(f"fixed: {adopt_key(store, paths, actor=user())}")
    found = diagnose(store, paths)
    for line in repair(store, found) if fix else []:
        print(f"fixed: {line}")
    for warning in found.warnings:
        print(f"warning: {warning}")
    for problem in found.problems:
        print(f"problem: {problem}")
    if not found.problems:
        print("ok: no problems found")
        return 0
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
