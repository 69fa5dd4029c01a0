"""Every command's arguments, defined once for both front ends.

:data:`COMMANDS` maps a command to its help line, the function adding its arguments to a
parser (the CLI's subparser, or the magic's parser of ``%mlops COMMAND``), and the front ends
that offer it. The argument definitions take the :class:`~.fronts.Front`, so the one
intentional difference (a notebook variable or a file) is worded where it applies.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from .fronts import Front

RUN_HELP = ("run id, unique id prefix, NAME@STAGE or NAME/VERSION (the run of that model "
            "version), or run name (its latest tracked run)")
MODEL_HELP = "NAME@STAGE, NAME/VERSION, a run, or a bundle path"
BOTH = ("%mlops", "jupyter-mlops")


def _trust(parser: argparse.ArgumentParser) -> None:
    from ..bundle.trust import add_trust_option  # serve.py in a bundle shares it

    add_trust_option(parser)


def add_runs(parser: argparse.ArgumentParser, front: Front) -> None:
    """``runs``: the latest runs (the CLI prints a table, the magic returns a DataFrame)."""
    parser.add_argument("-e", "--experiment", help="only the runs of this experiment")
    parser.add_argument("--status", help="only runs with this status (running, finished, "
                        "failed, interrupted)")
    parser.add_argument("-n", "--limit", type=int, default=20,
                        help="how many runs, newest first (default 20)")
    parser.add_argument("--sort", default="started_at", metavar="KEY",
                        help="started_at (default), duration_s, name, status, experiment, "
                        "run_id, updated_at, metrics.K or params.K; highest/newest first")
    parser.add_argument("--asc", action="store_true",
                        help="ascending order: lowest first (e.g. for rmse or log_loss)")
    parser.add_argument("--archived", choices=("exclude", "include", "only"),
                        default="exclude",
                        help="exclude archived runs (default), include them, or only them")
    if front.notebook:
        parser.add_argument("--frame", action="store_true",
                            help="return the plain DataFrame with every param column")
    else:
        from .views import METRIC_COLUMNS

        parser.add_argument("--columns", metavar="KEY,...",
                            help="the metric and param columns to show, e.g. "
                            "metrics.roc_auc,params.C (default: the sort key and the first "
                            f"{METRIC_COLUMNS} metrics)")


def add_run(parser: argparse.ArgumentParser, front: Front) -> None:
    """One RUN: ``show``, ``lineage``, ``diagnostics``."""
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)


def add_figure(parser: argparse.ArgumentParser, front: Front) -> None:
    """``compare`` and ``curves``: several runs, some metrics."""
    parser.add_argument("runs", nargs="+", metavar="RUN", help=RUN_HELP)
    parser.add_argument("--metric", action="append", metavar="K",
                        help="a metric to show (repeatable for compare)")


def add_drift(parser: argparse.ArgumentParser, front: Front) -> None:
    """``drift REF CUR``."""
    parser.add_argument("reference", metavar="REF", help=f"a {front.source}, or a run or model "
                        "(the profile of its training data)")
    parser.add_argument("current", metavar="CUR", help=f"the new data: a {front.source}")


def add_check_options(parser: argparse.ArgumentParser, front: Front) -> None:
    """The options of the checks before a version moves (``promote``, ``transition``)."""
    parser.add_argument("--gate", help='e.g. "auc>=0.9 and f1>0.8", or champion (beat the '
                        "current holder of the stage on the same rows), or champion(min_"
                        "improvement=0.01, test='bootstrap'), or rollout (the verdict of the "
                        "model's served rollout on --labels: promote challenger)")
    parser.add_argument("--labels", metavar=front.metavar,
                        help=f"the rollout gate's true targets (a {front.source}) with columns "
                        "request_id, label and, for requests of several rows, row")
    parser.add_argument("--reason", help="why (recorded in the audit log)")
    parser.add_argument("--force", action="store_true", help="override a failing gate")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip serving the bundle from a fresh virtualenv (audited)")
    _trust(parser)


def add_promote(parser: argparse.ArgumentParser, front: Front) -> None:
    """``promote RUN --name NAME``."""
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)
    parser.add_argument("--name", required=True, help="registered model name")
    parser.add_argument("--stage", help="staging, production, archived, or an alias")
    add_check_options(parser, front)


def _version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="registered model name")
    parser.add_argument("version", metavar="VERSION", type=int, help="version number")


def add_transition(parser: argparse.ArgumentParser, front: Front) -> None:
    """``transition NAME VERSION STAGE``."""
    _version(parser)
    parser.add_argument("stage", metavar="STAGE", help="staging, production, archived, or an alias")
    add_check_options(parser, front)


def add_delete_version(parser: argparse.ArgumentParser, front: Front) -> None:
    """``delete-version NAME VERSION --reason R``."""
    _version(parser)
    parser.add_argument("--reason", required=True, help="why (recorded in the audit log)")


def add_events(parser: argparse.ArgumentParser, front: Front) -> None:
    """``events [SUBJECT]``."""
    parser.add_argument("subject", nargs="?", metavar="SUBJECT",
                        help="a model name, NAME/VERSION or run:RUN_ID")


def add_tag(parser: argparse.ArgumentParser, front: Front) -> None:
    """``tag RUN K=V... [--remove K]...``."""
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)
    parser.add_argument("pairs", nargs="*", metavar="K=V", help="a tag to set")
    parser.add_argument("--remove", action="append", default=[], metavar="K",
                        help="a tag to remove (repeatable)")


def add_note(parser: argparse.ArgumentParser, front: Front) -> None:
    """``note RUN TEXT``."""
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)
    parser.add_argument("text", metavar="TEXT", help='the note (quote it); "" clears it')


def add_runs_refs(parser: argparse.ArgumentParser, front: Front) -> None:
    """``archive RUN...``, ``restore RUN...``."""
    parser.add_argument("runs", nargs="+", metavar="RUN", help=RUN_HELP)


def add_delete(parser: argparse.ArgumentParser, front: Front) -> None:
    """``delete RUN... --yes``."""
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run id or unique id prefix (never a name)")
    parser.add_argument("--yes", action="store_true",
                        help="really delete (without it, only say what would be deleted)")


def add_policy(parser: argparse.ArgumentParser, front: Front) -> None:
    """``policy [show|set|remove]``."""
    parser.add_argument("action", nargs="?", choices=("show", "set", "remove"), default="show",
                        help="show the policies (default), set or remove one")
    parser.add_argument("--stage", default="production",
                        help="the stage (or alias) the policy guards (default production)")
    parser.add_argument("--approvers", type=int, default=1, metavar="N",
                        help="how many distinct users must approve (default 1)")
    parser.add_argument("--requester-may-approve", action="store_true",
                        help="let the user who asked be one of the approvers (default: not)")
    parser.add_argument("--approver", action="append", default=[], metavar="USER",
                        help="a user who may approve or reject, or @GROUP for the members of "
                        "a group (repeatable; default: any user)")
    parser.add_argument("--expires-after", type=float, default=7.0, metavar="DAYS",
                        help="days a request stays open (default 7)")
    parser.add_argument("--reason", help="why (recorded in the audit log)")


def add_group(parser: argparse.ArgumentParser, front: Front) -> None:
    """``group [show|set|remove] [NAME]``."""
    parser.add_argument("action", nargs="?", choices=("show", "set", "remove"), default="show",
                        help="show the groups (default), set or remove one")
    parser.add_argument("group", nargs="?", metavar="NAME", help="the group (policies name it "
                        "--approver @NAME)")
    parser.add_argument("--member", action="append", default=[], metavar="USER",
                        help="a member (repeatable; set replaces the members)")
    parser.add_argument("--reason", help="why (recorded in the audit log)")


def add_approvals(parser: argparse.ArgumentParser, front: Front) -> None:
    """``approvals [NAME]``."""
    parser.add_argument("name", nargs="?", metavar="NAME", help="only this model's requests")


def add_decision(parser: argparse.ArgumentParser, front: Front) -> None:
    """``approve REQUEST`` and ``reject REQUEST``."""
    parser.add_argument("request", metavar="REQUEST", type=int,
                        help="the request number (`approvals` lists them)")
    parser.add_argument("--reason", help="why (recorded in the audit log)")


def add_export(parser: argparse.ArgumentParser, front: Front) -> None:
    """``export MODEL PATH``."""
    parser.add_argument("model", metavar="MODEL", help="NAME@STAGE, NAME/VERSION, or a run "
                        "id/name")
    parser.add_argument("path", metavar="PATH", help="the bundle directory to create")
    parser.add_argument("--zip", action="store_true", help="also write PATH.zip")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace PATH (and PATH.zip) if it exists")
    parser.add_argument("--input-example", metavar=front.metavar,
                        help=f"rows to ship as the input example (a {front.source}; default: "
                        "synthesized from the schema and profile, so no training row leaves "
                        "the store)")
    parser.add_argument("--target", choices=["kserve"], help="kserve: add MLServer's "
                        "model-settings.json and a KServe InferenceService manifest "
                        "(inferenceservice.yaml)")
    parser.add_argument("--storage-uri", metavar="URI", help="with --target kserve: where the "
                        "bundle folder will be uploaded (s3://..., gs://..., pvc://...), the "
                        "manifest's storageUri (default: a placeholder to replace)")
    _trust(parser)


def add_retrain(parser: argparse.ArgumentParser, front: Front) -> None:
    """``retrain RUN --data VAR=...``."""
    parser.add_argument("run", metavar="RUN", help="the run to retrain: id, prefix, "
                        "NAME@STAGE, or a run name (its latest tracked run)")
    parser.add_argument("--data", action="append", default=[],
                        metavar="VAR=NEWVAR" if front.notebook else "VAR=FILE",
                        help=f"re-bind a variable of the recorded cells to new data (a "
                        f"{front.source}; repeatable)")
    parser.add_argument("--holdout", type=float, default=None, metavar="SHARE",
                        help="the share of the new training rows held out to judge the new "
                        "model and the champion on (default 0.3; 0: train on all of them)")
    parser.add_argument("--promote-to", metavar="STAGE", help="promote if the gate passes")
    parser.add_argument("--gate", default="champion",
                        help="champion (default: beat the current holder on held-out new rows) "
                        "or an expression")
    parser.add_argument("--name", help="registered model name (default: the original's)")
    parser.add_argument("--reason", help="why (recorded in the audit log)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the fresh-virtualenv verification of a production bundle")
    _trust(parser)


def add_monitor(parser: argparse.ArgumentParser, front: Front) -> None:
    """``monitor MODEL DATA`` and ``monitor MODEL --history``."""
    parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    batch = ("the variable holding the new batch" if front.notebook else
             "the batch: .csv, .parquet or .jsonl (a serve.py request log works as it is)")
    parser.add_argument("data", nargs="?", metavar="DATA", help=batch)
    parser.add_argument("--labels", metavar=front.metavar,
                        help=f"the batch's true targets (a {front.source})")
    parser.add_argument("--label-column", metavar="COL", help="the targets are this column")
    parser.add_argument("--threshold", action="append", default=[], metavar="KEY=VALUE",
                        help="share=0.3, accuracy=0.02 (allowed drop), COLUMN=cut-off")
    parser.add_argument("--drift-alert", default="important", metavar="RULE",
                        help="which drift alerts: important (default: a drifted column the "
                        "model relies on), any (any drifted column) or dataset (only the "
                        "dataset verdict)")
    if not front.notebook:
        parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--history", action="store_true",
                        help="the batches stored for MODEL instead of checking one")


def add_watch(parser: argparse.ArgumentParser, front: Front) -> None:
    """``watch MODEL DIR`` (a long-running loop: the CLI's)."""
    parser.add_argument("model", metavar="MODEL", help="NAME@STAGE (or a run)")
    parser.add_argument("directory", metavar="DIR",
                        help="each new .csv/.parquet/.jsonl file is a batch")
    parser.add_argument("--target", help="the label column of the batches")
    parser.add_argument("--every", type=float, default=60.0, metavar="SECONDS",
                        help="seconds between polls (default 60)")
    parser.add_argument("--max-batches", type=int, metavar="N",
                        help="stop after N batches (default: run until interrupted)")
    parser.add_argument("--no-retrain", action="store_true", help="only monitor")
    parser.add_argument("--gate", default="champion",
                        help="champion (default) or a metrics expression")
    parser.add_argument("--promote-to", default="production", metavar="STAGE",
                        help="promote a retrained model that passes the gate (default production)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the fresh-virtualenv verification of a production bundle")
    _trust(parser)


def add_serve(parser: argparse.ArgumentParser, front: Front) -> None:
    """``serve BUNDLE`` (a server process: the CLI's)."""
    from ..bundle.trust import add_trust_code_option

    parser.add_argument("bundle", metavar="BUNDLE", help="bundle or rollout bundle directory "
                        "or .zip; with --champion and --challenger, the registered model NAME")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="default 8080")
    parser.add_argument("--log-requests", metavar="FILE.jsonl",
                        help="log the scored features and predictions (rotated) for monitoring "
                        "(a rollout of NAME logs to the store's rollouts/NAME.jsonl by default)")
    _trust(parser)
    add_trust_code_option(parser)
    rollout = parser.add_argument_group("rollout: two versions of NAME behind one endpoint")
    rollout.add_argument("--champion", metavar="REF", help="the version that answers: @STAGE, "
                         "/VERSION (of NAME) or any model reference, e.g. @production")
    rollout.add_argument("--challenger", metavar="REF", help="the version tried, e.g. @staging")
    rollout.add_argument("--mode", help="shadow (the challenger scores the same rows off the "
                         "request path), canary (it answers a share of rows) or ab (as canary, "
                         "for an experiment)")
    rollout.add_argument("--share", type=float, metavar="SHARE",
                         help="the challenger's share of rows (default canary 0.1, ab 0.5)")
    rollout.add_argument("--sticky-key", metavar="COLUMN", help="rows with the same value of "
                         "this column always go to the same arm (it need not be a feature)")
    rollout.add_argument("--admin-token-file", metavar="PATH", help="the token of POST "
                         "/admin/share (default: $JUPYTER_MLOPS_ROLLOUT_TOKEN; none: off)")


def add_rollout(parser: argparse.ArgumentParser, front: Front) -> None:
    """``rollout NAME|LOG``: the report of a served rollout."""
    parser.add_argument("rollout", metavar="NAME|LOG", help="a rollout served with "
                        "jupyter-mlops serve NAME --champion … (its log in the store), or a "
                        "rollout's request log (.jsonl)")
    parser.add_argument("--labels", metavar=front.metavar,
                        help=f"the true targets (a {front.source}) with columns request_id, "
                        "label and, for requests of several rows, row")
    parser.add_argument("--label-column", default="label", metavar="COL",
                        help="the labels' target column (default label)")
    parser.add_argument("--metric", help="accuracy, mse or mae (default: accuracy for classes, "
                        "mse for numbers)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="the confidence sequence's error level (default 0.05)")


def add_doctor(parser: argparse.ArgumentParser, front: Front) -> None:
    """``doctor`` (the CLI's)."""
    parser.add_argument("--fix", action="store_true",
                        help="remove artifact files that no record refers to (their run was "
                        "deleted, or a crash came before it was committed)")
    parser.add_argument("--adopt-key", action="store_true",
                        help="start the signed audit chain with the audit key just configured; "
                        "refused when anything records that the store had a key before")
    parser.add_argument("--bundle", action="append", default=[], metavar="PATH",
                        help="also check the audit head recorded in this bundle's lineage.json "
                        "(repeatable)")


SERVER_HELP = ("the MLflow tracking server, e.g. http://mlflow.example:5000 (default: "
               "$MLFLOW_TRACKING_URI; credentials as MLflow reads them, e.g. "
               "$MLFLOW_TRACKING_TOKEN)")


def add_push(parser: argparse.ArgumentParser, front: Front) -> None:
    """``push [--to URI] [-e EXP] [--since WHEN]``."""
    parser.add_argument("--to", metavar="URI", help=SERVER_HELP)
    parser.add_argument("-e", "--experiment", help="only this experiment's runs (and the "
                        "versions of their models)")
    parser.add_argument("--since", metavar="WHEN",
                        help="only runs started since this ISO date or time (2026-11-30)")


def add_pull(parser: argparse.ArgumentParser, front: Front) -> None:
    """``pull [--from URI] [-e EXP]``."""
    parser.add_argument("--from", dest="from_", metavar="URI", help=SERVER_HELP)
    parser.add_argument("-e", "--experiment", help="only this experiment")


def add_config(parser: argparse.ArgumentParser, front: Front) -> None:
    """``config [KEY [VALUE]] [--unset]``."""
    parser.add_argument("key", nargs="?", metavar="KEY",
                        help="a setting: sync.uri (the MLflow tracking server each finished "
                        "%%%%track run is pushed to in the background); none: list them")
    parser.add_argument("value", nargs="?", metavar="VALUE", help="its new value")
    parser.add_argument("--unset", action="store_true", help="remove the setting")
    parser.add_argument("--reason", help="why (recorded in the audit log)")


def add_ci(parser: argparse.ArgumentParser, front: Front) -> None:
    """``ci [NOTEBOOK|DIR]...`` (the CLI's): settings from ``[tool.jupyter-mlops.ci]``, which
    these options override."""
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK|DIR",
                        help="notebooks or directories of them (default: the settings', else "
                        "notebooks/)")
    parser.add_argument("--junit", metavar="FILE.xml", help="write a JUnit XML report")
    parser.add_argument("--summary", metavar="FILE.md",
                        help="write a Markdown summary (a pull request comment)")
    parser.add_argument("--against", metavar="NAME@STAGE",
                        help="the baseline of cells that produce a model (default: each cell's "
                        "latest run outside CI)")
    parser.add_argument("--gate", action="append", metavar="EXPR",
                        help='a gate every run with metrics must pass, e.g. "roc_auc>=0.9", or '
                        '"champion": each model no worse than its baseline\'s on the same '
                        "--eval rows (repeatable)")
    parser.add_argument("--retire", action="append", metavar="NOTEBOOK.ipynb:CELL_ID",
                        help="a cell deleted on purpose: no longer recording it is no failure "
                        "(repeatable; added to the settings' retired)")
    parser.add_argument("--tolerance", action="append", default=[], metavar="METRIC=DELTA",
                        help="how much worse a metric may get than its baseline (default=... "
                        "for all others; repeatable)")
    parser.add_argument("--in-place", action="store_true", default=None,
                        help="record the CI runs in the store itself (default: a throwaway copy)")
    parser.add_argument("--verify", action="store_true", default=None,
                        help="also serve each model's bundle from a fresh virtualenv")
    parser.add_argument("--no-bundle", dest="bundle", action="store_false", default=None,
                        help="skip the bundle smoke test")
    parser.add_argument("--figures", metavar="DIR",
                        help="save the drift figures of drifted inputs here (HTML), linked from "
                        "the summary")
    parser.add_argument("--timeout", type=int, metavar="SECONDS", help="per cell (default 600)")
    parser.add_argument("--config", default="pyproject.toml", metavar="PYPROJECT",
                        help="the settings file (default: ./pyproject.toml)")
    parser.add_argument("--init", choices=("github", "gitlab"),
                        help="write the CI workflow (.github/workflows/mlops-ci.yml or "
                        ".gitlab-ci.yml) and stop")


def add_store(parser: argparse.ArgumentParser, front: Front) -> None:
    """``store [PATH]`` (the magic's: the CLI has ``--store``)."""
    parser.add_argument("path", nargs="?", metavar="PATH",
                        help="switch to the store in this directory")


def _nothing(parser: argparse.ArgumentParser, front: Front) -> None:
    """A command without arguments."""


@dataclass(frozen=True)
class Command:
    """A command: its help line, its arguments, and the front ends that offer it."""

    help: str
    add: Callable[[argparse.ArgumentParser, Front], None]
    fronts: tuple[str, ...] = BOTH


COMMANDS = {
    "runs": Command("list the latest runs", add_runs),
    "show": Command("everything recorded about a run", add_run),
    "lineage": Command("runs upstream and downstream of a run", add_run),
    "compare": Command("metrics of several runs side by side (a chart)", add_figure,
                       ("%mlops",)),
    "curves": Command("logged metric curves over steps (a chart)", add_figure, ("%mlops",)),
    "diagnostics": Command("confusion/ROC/PR/calibration or residual charts of a run's --eval",
                           add_run, ("%mlops",)),
    "drift": Command("drift of new data against a reference", add_drift, ("%mlops",)),
    "doctor": Command("check the store's integrity, its audit chain and its anchors; exit 1 on "
                      "a problem", add_doctor, ("jupyter-mlops",)),
    "promote": Command("register a run's model as a new version", add_promote),
    "transition": Command("move a model version to a stage or alias", add_transition),
    "models": Command("registered models and their versions", _nothing),
    "delete-version": Command("remove a model version (audited)", add_delete_version),
    "events": Command("the audit log, newest first", add_events),
    "tag": Command("set (K=V) or remove (--remove K) tags of a run (audited)", add_tag),
    "note": Command('replace a run\'s note ("" clears it; audited)', add_note),
    "archive": Command("hide runs from listings (kept; audited)", add_runs_refs),
    "restore": Command("list archived runs again (audited)", add_runs_refs),
    "delete": Command("delete runs' records (audited; their artifact files go later, once "
                      "nothing refers to them)", add_delete),
    "policy": Command("which stage moves need approval, by how many and whom", add_policy),
    "group": Command("approver groups a policy names as --approver @NAME", add_group),
    "approvals": Command("the moves waiting for approval, and approved moves that never "
                         "finished", add_approvals),
    "approve": Command("approve a waiting move (it runs when the policy is met), or retry an "
                       "approved move that never finished",
                       add_decision),
    "reject": Command("reject a waiting move", add_decision),
    "export": Command("write a deployment bundle", add_export),
    "retrain": Command("re-run a run's recorded cell on new data", add_retrain),
    "monitor": Command("check a batch of new data against a model and store the check "
                       "(jupyter-mlops exits 1 on an alert)", add_monitor),
    "watch": Command("monitor new batch files; retrain and promote on drift", add_watch,
                     ("jupyter-mlops",)),
    "serve": Command("serve a bundle over HTTP, or two versions as a shadow, canary or A/B "
                     "rollout", add_serve, ("jupyter-mlops",)),
    "rollout": Command("compare a rollout's champion and challenger: promote, keep or roll "
                       "back", add_rollout),
    "push": Command("mirror runs and registered models to an MLflow tracking server "
                    "(again: only what changed)", add_push),
    "pull": Command("bring a team's runs and registered models from an MLflow tracking "
                    "server (read-only copies)", add_pull),
    "config": Command("show or change the store's settings (audited): sync.uri turns "
                      "auto-push on", add_config),
    "store": Command("where the store is; switch to PATH", add_store, ("%mlops",)),
    "ci": Command("re-run notebooks headless; check data, models and reproducibility against "
                  "their baseline; exit 1 on a failed check", add_ci, ("jupyter-mlops",)),
}


def commands_of(front: Front) -> dict[str, Command]:
    """The commands ``front`` offers, in :data:`COMMANDS`' order."""
    return {name: c for name, c in COMMANDS.items() if front.prog in c.fronts}
