"""``jupyter-mlops`` / ``jupyter mlops``: a thin shell over the store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import report
from .errors import MLOpsError
from .promotion import add_promotion_options
from .retrain import add_retrain_options
from .store import Store, open_store
from .tables import read_table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter-mlops", description="Browse and check a jupyter-mlops lineage store."
    )
    parser.add_argument("--store", metavar="PATH",
                        help="store directory (default: $JUPYTER_MLOPS_STORE or nearest .mlops/)")
    commands = parser.add_subparsers(dest="command", required=True)
    runs = commands.add_parser("runs", help="list the latest runs")
    runs.add_argument("-e", "--experiment", help="only this experiment")
    runs.add_argument("--status", help="only runs with this status")
    runs.add_argument("-n", "--limit", type=int, default=20, help="how many (default 20)")
    runs.add_argument("--sort", default="started_at", help="column, params.K or metrics.K")
    show = commands.add_parser("show", help="everything recorded about a run")
    show.add_argument("run", help="run id, unique id prefix, or run name (latest)")
    lineage = commands.add_parser("lineage", help="runs upstream and downstream of a run")
    lineage.add_argument("run")
    commands.add_parser("doctor", help="check the store's integrity and its audit chain")
    promote = commands.add_parser("promote", help="register a run's model as a new version")
    promote.add_argument("run", help="run id, prefix or name")
    add_promotion_options(promote)
    move = commands.add_parser("transition", help="move a model version to a stage or alias")
    move.add_argument("name")
    move.add_argument("version", type=int)
    move.add_argument("stage", help="staging, production, archived, or an alias")
    move.add_argument("--reason")
    commands.add_parser("models", help="registered models and their versions")
    delete = commands.add_parser("delete-version", help="remove a model version (audited)")
    delete.add_argument("name")
    delete.add_argument("version", type=int)
    delete.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    events = commands.add_parser("events", help="the audit log, newest first")
    events.add_argument("subject", nargs="?", help="a model name or NAME/VERSION")
    export = commands.add_parser("export", help="write a deployment bundle")
    export.add_argument("model", help="NAME@STAGE, NAME/VERSION, or a run id/name")
    export.add_argument("path", help="the bundle directory to create")
    export.add_argument("--zip", action="store_true", help="also write PATH.zip")
    export.add_argument("--overwrite", action="store_true")
    retrain = commands.add_parser("retrain", help="re-run a run's recorded cell on new data")
    add_retrain_options(retrain)
    check = commands.add_parser("monitor", help="check a batch of new data against a model; "
                                "exit 1 on an alert")
    check.add_argument("model", help="NAME@STAGE, NAME/VERSION, a run, or a bundle path")
    check.add_argument("data", help="the batch: .csv, .parquet or .jsonl (a serve.py request "
                       "log works as it is)")
    check.add_argument("--labels", metavar="FILE", help="the batch's true targets")
    check.add_argument("--label-column", metavar="COL", help="the targets are this column")
    check.add_argument("--threshold", action="append", default=[], metavar="KEY=VALUE",
                       help="share=0.3, accuracy=0.02 (allowed drop), COLUMN=cut-off")
    check.add_argument("--json", action="store_true", help="print a JSON report")
    loop = commands.add_parser("watch", help="monitor new batch files; retrain and promote on "
                               "drift")
    loop.add_argument("model", help="NAME@STAGE (or a run)")
    loop.add_argument("directory", help="each new .csv/.parquet/.jsonl file is a batch")
    loop.add_argument("--target", help="the label column of the batches")
    loop.add_argument("--every", type=float, default=60.0, help="seconds between polls")
    loop.add_argument("--max-batches", type=int, help="stop after N batches")
    loop.add_argument("--no-retrain", action="store_true", help="only monitor")
    loop.add_argument("--gate", default="champion")
    loop.add_argument("--promote-to", default="production")
    loop.add_argument("--no-verify", action="store_true")
    serve = commands.add_parser("serve", help="serve a bundle over HTTP")
    serve.add_argument("bundle", help="bundle directory or .zip")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--log-requests", metavar="FILE.jsonl",
                       help="log the scored features and predictions (rotated) for monitoring")
    return parser



def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "doctor":
            return _doctor(args.store)
        if args.command == "serve":
            return _serve(args.bundle, args.host, args.port, args.log_requests)
        with open_store(args.store) as store:
            if args.command == "monitor":
                return _monitor(args, store)
            if args.command == "watch":
                return _watch(args, store)
            if args.command == "retrain":
                print(_retrain(args, store))
            elif args.command in ("promote", "transition", "models", "events", "export",
                                  "delete-version"):
                print(_registry_command(args, store))
            elif args.command == "runs":
                frame = store.runs(args.experiment, status=args.status, sort=args.sort,
                                   limit=args.limit)
                print(report.format_runs(frame))
            elif args.command == "show":
                print(report.format_run(store.get_run(args.run)))
            elif args.command == "lineage":
                print(report.format_lineage(store, args.run))
    except (MLOpsError, ValueError) as exc:
        print(f"jupyter-mlops: {exc}", file=sys.stderr)
        return 2
    return 0


def _registry_command(args: argparse.Namespace, store: Store) -> str:
    from .bundle import export_bundle
    from .promotion import promote, transition

    if args.command == "promote":
        version = promote(args.run, name=args.name, stage=args.stage, gate=args.gate,
                          reason=args.reason, force=args.force,
                          verify=False if args.no_verify else None, store=store)
        return report.format_version(version)
    if args.command == "transition":
        return report.format_version(
            transition(args.name, args.version, args.stage, args.reason, store=store))
    if args.command == "models":
        return report.format_models(store.models())
    if args.command == "delete-version":
        from .capture.environment import user
        from .store.registry import delete_version

        delete_version(store, args.name, args.version, actor=user(), reason=args.reason)
        return f"deleted {args.name}/{args.version} (its run and model stay in the store)"
    if args.command == "events":
        return report.format_events(store.events(args.subject))
    path = export_bundle(args.model, args.path, zip=args.zip, store=store,
                         overwrite=args.overwrite)
    return f"bundle written to {path}\nserve it with: jupyter-mlops serve {path}"


def _retrain(args: argparse.Namespace, store: Store) -> str:
    from .retrain import parse_bindings, retrain

    data = {name: read_table(path) for name, path in parse_bindings(args.data)}
    run = retrain(args.run, data=data, gate=args.gate, promote_to=args.promote_to,
                  name=args.name, reason=args.reason, verify=False if args.no_verify else None,
                  store=store)
    return (f"retrained: run {run.run_id} ({run.name}) from {run.parent_run_id}\n"
            f"{run.tags.get('promotion')}")


def _monitor(args: argparse.Namespace, store: Store) -> int:
    import json

    from .bundle.serve import LOG_FIELDS
    from .monitoring import monitor

    data = read_table(args.data)
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


def _watch(args: argparse.Namespace, store: Store) -> int:
    from .watch import watch

    for step in watch(args.model, args.directory, every=args.every, target=args.target,
                      retrain=not args.no_retrain, gate=args.gate, promote_to=args.promote_to,
                      max_batches=args.max_batches,
                      verify=False if args.no_verify else None, store=store):
        print(f"{step.source}: {'DRIFT' if step.drifted else 'ok'} · {step.alerts} alert(s) · "
              f"{step.outcome}", flush=True)
    return 0


def _serve(bundle: str, host: str, port: int, log_requests: str | None) -> int:
    from .bundle import serve
    from .bundle.load import unpacked

    extra = ["--log-requests", log_requests] if log_requests else []
    return serve.main(["--bundle", str(unpacked(bundle)), "--host", host, "--port", str(port),
                       *extra])


def _doctor(path: str | None) -> int:
    with open_store(path) as store:
        problems = store.check()
        print(f"store    {store.directory}")
        print(f"schema   {', '.join(store.schema_version)}")
        print(f"runs     {store.count_runs()}")
    if not problems:
        print("ok: no problems found")
        return 0
    for problem in problems:
        print(f"problem: {problem}")
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
