"""``jupyter-mlops`` / ``jupyter mlops``: a thin shell over the store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import report
from .errors import MLOpsError
from .store import open_store


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
    commands.add_parser("doctor", help="check the store's integrity")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "doctor":
            return _doctor(args.store)
        with open_store(args.store) as store:
            if args.command == "runs":
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
