"""``jupyter-mlops`` / ``jupyter mlops``: a thin shell over the store."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .commands import actions, views
from .commands.arguments import commands_of
from .commands.fronts import COMMAND_LINE
from .commands.references import USER_ERRORS, explain
from .errors import EmptyStoreError, StoreError, StoreNotFoundError
from .store import Store, open_store

DESCRIPTION = (
    "Work with a jupyter-mlops store from a terminal: browse the runs your %%track cells "
    "recorded and their lineage, promote models through the registry (gates, stages, the "
    "audit log), export and serve deployment bundles, monitor new data for drift and "
    "performance, and retrain on it."
)
EPILOG = (
    "--store goes before or after the command. Only monitor and watch (which record batches, "
    "also of a bundle's model) and pull create a store that does not exist yet; every other "
    "command needs an existing one."
)
STORE_HELP = ("store directory, before or after the command (default: $JUPYTER_MLOPS_STORE, "
              "else the nearest .mlops/ upwards)")
# The commands that may create the store (they record monitoring batches, also for a bundle's
# model; pull fills a teammate's new store); every other one needs records that exist, so a
# mistyped path is an error.
CREATE_STORE = {"monitor", "watch", "pull"}


def _store_option(default: Any) -> argparse.ArgumentParser:
    """``--store``, accepted before the command (default None) and after it (SUPPRESS, so a
    command's parser does not overwrite a value given before the command)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", metavar="PATH", default=default, help=STORE_HELP)
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter-mlops", description=DESCRIPTION,
                                     epilog=EPILOG, parents=[_store_option(None)])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    after = [_store_option(argparse.SUPPRESS)]
    for name, command in commands_of(COMMAND_LINE).items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help,
                                    parents=after)
        command.add(sub, COMMAND_LINE)
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


def _sets_a_setting(args: argparse.Namespace) -> bool:
    """Whether ``config KEY VALUE`` sets a valid value (a mistyped key or value creates no
    store: the check raises first)."""
    from .store.settings import check

    if args.command != "config" or args.value is None or args.unset:
        return False
    check(args.key, args.value)
    return True


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        creates = (args.command in CREATE_STORE and not getattr(args, "history", False)) or \
            _sets_a_setting(args)  # a teammate's first step
        if args.command == "ci":
            return _ci(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "rollout" and Path(args.rollout).is_file():  # a log needs no store
            print(actions.rollout(None, args, COMMAND_LINE).summary())
            return 0
        with open_store(args.store, create=creates) as store:
            if args.command in STATUS:
                return STATUS[args.command](store, args)
            print(TEXT[args.command](store, args))
    except USER_ERRORS as exc:
        if args.command == "doctor" and isinstance(exc, EmptyStoreError):
            print(f"problem: {exc}")  # the store's problem is doctor's finding
            return 1
        print(f"jupyter-mlops: {explain(exc, COMMAND_LINE)}", file=sys.stderr)
        return 1 if isinstance(exc, StoreNotFoundError) else 2
    return 0


def _runs(store: Store, args: argparse.Namespace) -> str:
    frame, note = actions.runs(store, args)
    return note or views.format_runs(frame, args.sort, actions.columns(args))


def _monitor(store: Store, args: argparse.Namespace) -> int:
    import json

    if args.history:
        print(actions.monitor_history(store, args, COMMAND_LINE))
        return 0
    result = actions.monitor(store, args, COMMAND_LINE)
    print(json.dumps(result.as_dict(), indent=1) if args.json else result.summary())
    return 1 if result.alerts else 0


def _watch(store: Store, args: argparse.Namespace) -> int:
    from .lifecycle.watch import watch

    for step in watch(args.model, args.directory, every=args.every, target=args.target,
                      retrain=not args.no_retrain, gate=args.gate, promote_to=args.promote_to,
                      max_batches=args.max_batches,
                      verify=False if args.no_verify else None, trusted=args.trust,
                      store=store):
        print(f"{step.source}: {'DRIFT' if step.drifted else 'ok'} · {step.alerts} alert(s) · "
              f"{step.outcome}", flush=True)
    return 0


def _serve_options(args: argparse.Namespace, roots: list[Path], log: str | None) -> list[str]:
    """The options of serve.py (or a rollout's) for what ``jupyter-mlops serve`` was given;
    ``--trust-code`` when asked, or when the store (named, else found) recorded the notebook
    code of every bundle in ``roots`` that carries some."""
    from .bundle.load import code_recorded
    from .bundle.trust import CODE_PATH

    extra = ["--host", args.host, "--port", str(args.port)]
    extra += ["--log-requests", log] if log else []
    extra += [arg for name in args.trust for arg in ("--trust", name)]
    extra += ["--admin-token-file", args.admin_token_file] if args.admin_token_file else []
    carrying = [root for root in roots if (root / CODE_PATH).is_file()]
    trusted = args.trust_code
    if not trusted and carrying:
        try:
            with open_store(args.store, create=False) as store:
                trusted = all(code_recorded(root, store) for root in carrying)
        except StoreError:
            pass
    return extra + (["--trust-code"] if trusted else [])


def _serve(args: argparse.Namespace) -> int:
    from .bundle import rollout, serve
    from .bundle.load import unpacked

    if args.champion or args.challenger:
        return _serve_rollout(args)
    if args.mode or args.share is not None or args.sticky_key:
        raise ValueError("--mode, --share and --sticky-key make a rollout: give --champion "
                         "and --challenger too (or serve a rollout bundle)")
    root = unpacked(args.bundle)
    if rollout.is_rollout(root):
        return rollout.main(["--bundle", str(root), *_serve_options(
            args, [root / arm for arm in rollout.ARMS], args.log_requests)],
            on_share=_share_audit(args.store, _rollout_name(root)))
    if args.admin_token_file:
        raise ValueError("--admin-token-file is for rollouts; this is a single bundle")
    return serve.main(["--bundle", str(root), *_serve_options(args, [root], args.log_requests)])


def _serve_rollout(args: argparse.Namespace) -> int:
    """``serve NAME --champion @production --challenger @staging --mode …``: write the rollout
    bundle to a temporary directory and serve it, logging to the store's rollouts/NAME.jsonl."""
    import signal
    import tempfile

    from .bundle import rollout
    from .bundle.rollout_export import export_rollout
    from .lifecycle.rollout import rollout_log

    if not (args.champion and args.challenger and args.mode):
        raise ValueError("a rollout needs --champion, --challenger and --mode together")
    name = args.bundle

    def reference(given: str) -> str:
        return name + given if given.startswith(("@", "/")) else given

    # uvicorn re-raises SIGTERM once it has shut down: exit through Python, so the temporary
    # rollout bundle is removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    with tempfile.TemporaryDirectory(prefix="jupyter-mlops-rollout-") as directory:
        with open_store(args.store, create=False) as store:
            root = export_rollout(reference(args.champion), reference(args.challenger),
                                  Path(directory) / "rollout", mode=args.mode,
                                  share=args.share, sticky_key=args.sticky_key, store=store,
                                  trusted=args.trust)
            log = args.log_requests or str(rollout_log(store.directory, name))
            store_directory = store.directory
        return rollout.main(["--bundle", str(root), *_serve_options(
            args, [root / arm for arm in rollout.ARMS], log)],
            on_share=_share_audit(store_directory, name))


def _rollout_name(root: Path) -> str | None:
    """The registered model a rollout bundle's champion is a version of, if it is one."""
    import json

    try:
        arms = json.loads((root / "MANIFEST.json").read_text())["arms"]
        return str(arms["champion"]["version"]).split("/")[0] if arms["champion"].get(
            "version") else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _share_audit(store_path: str | Path | None, name: str | None
                 ) -> Callable[[dict[str, Any]], None] | None:
    """How a rollout of a registered model served here audits a share change made through
    its admin endpoint: an event ``rollout-share`` under ``rollout:NAME`` in the store (the
    acting user is whoever runs the server; the detail has the client's address, both
    shares and the arms' versions). None (the rollout's own log only) when the rollout is
    not of a registered model or no store can be opened."""
    from .capture.environment import user
    from .store.audit import append_event

    if name is None:
        return None
    try:
        with open_store(store_path, create=False) as store:
            directory = store.directory
    except StoreError:
        return None

    def audit(change: dict[str, Any]) -> None:
        with open_store(directory, create=False) as store, store.transaction() as conn:
            append_event(conn, actor=user(), action="rollout-share", subject=f"rollout:{name}",
                         detail={**change, "via": "POST /admin/share"})

    return audit


def _ci(args: argparse.Namespace) -> int:
    from .ci import load_config, run_ci, write_workflow

    if args.init:
        print(f"wrote {write_workflow(args.init, Path.cwd())}")
        return 0
    tolerances = dict(_pair(item) for item in args.tolerance)
    config = load_config(Path(args.config), notebooks=args.notebooks or None, store=args.store,
                         against=args.against, gates=args.gate, in_place=args.in_place,
                         verify=args.verify, bundle=args.bundle, timeout=args.timeout,
                         figures=args.figures, also_retired=args.retire,
                         metric_tolerances=tolerances or None)
    result = run_ci(config)
    for path, text in ((args.junit, result.junit()), (args.summary, result.summary())):
        if path:
            Path(path).write_text(text)
    for check in result.checks:
        if check.status != "passed":
            print(f"{check.status.upper()} {check.name} · {check.subject}: {check.message}")
    failed = sum(c.failed for c in result.checks)
    print(f"{'FAILED' if failed else 'ok'}: {len(result.checks)} checks, {failed} failed, "
          f"{len(result.executions)} notebook(s) in {result.seconds:.1f}s")
    return 1 if failed else 0


def _pair(item: str) -> tuple[str, float]:
    key, _, value = item.partition("=")
    try:
        return key.strip(), float(value)
    except ValueError:
        raise ValueError(f"--tolerance takes METRIC=DELTA (a number), not {item!r}") from None


def _doctor(store: Store, args: argparse.Namespace) -> int:
    from .capture.environment import user
    from .store.doctor import adopt_key, diagnose, repair

    paths = [Path(b) for b in args.bundle]
    print(f"store    {store.directory}")
    print(f"schema   {', '.join(store.schema_version)}")
    print(f"runs     {store.count_runs()}")
    if args.adopt_key:
        print(f"fixed: {adopt_key(store, paths, actor=user())}")
    found = diagnose(store, paths)
    for line in repair(store, found) if args.fix else []:
        print(f"fixed: {line}")
    for warning in found.warnings:
        print(f"warning: {warning}")
    for problem in found.problems:
        print(f"problem: {problem}")
    if not found.problems:
        print("ok: no problems found")
        return 0
    return 1


# What each command prints, and the commands that print as they go and choose their exit status.
TEXT: dict[str, Callable[[Store, argparse.Namespace], str]] = {
    "runs": _runs,
    "show": lambda store, args: views.show_run(store, args.run),
    "lineage": lambda store, args: views.format_lineage(store, args.run),
    "models": lambda store, args: views.format_models(store.models()),
    "events": lambda store, args: actions.events(store, args.subject, COMMAND_LINE),
    "promote": lambda store, args: actions.promote(store, args, COMMAND_LINE),
    "transition": lambda store, args: actions.transition(store, args, COMMAND_LINE),
    "delete-version": lambda store, args: actions.delete_version(store, args),
    "policy": actions.policy,
    "approvals": actions.approvals,
    "group": actions.group,
    "approve": lambda store, args: actions.decide(store, args, approve=True),
    "reject": lambda store, args: actions.decide(store, args, approve=False),
    "export": lambda store, args: actions.export(store, args, COMMAND_LINE),
    "retrain": lambda store, args: actions.retrain(store, args, COMMAND_LINE),
    "tag": actions.tag,
    "note": actions.note,
    "archive": lambda store, args: actions.archive(store, args, COMMAND_LINE),
    "restore": lambda store, args: actions.archive(store, args, COMMAND_LINE, restore=True),
    "delete": actions.delete,
    "push": actions.push,
    "pull": actions.pull,
    "config": actions.config,
    "rollout": lambda store, args: actions.rollout(store, args, COMMAND_LINE).summary(),
}
STATUS: dict[str, Callable[[Store, argparse.Namespace], int]] = {
    "doctor": _doctor, "monitor": _monitor, "watch": _watch,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
