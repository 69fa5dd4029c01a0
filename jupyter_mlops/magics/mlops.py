"""``%mlops``: browse the store, compare, promote, retrain, monitor from a notebook.

The commands, their arguments, references, messages and bodies are the CLI's
(:mod:`jupyter_mlops.commands`); this module parses the line, shows what a command returns
(printed text, a DataFrame, a chart) and turns a user's mistake into a ``UsageError``.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

from ..commands import actions, views
from ..commands.arguments import Command, commands_of
from ..commands.fronts import Front, notebook
from ..commands.references import USER_ERRORS, explain
from ..store import Store
from .state import KernelState, split_line


class _HelpShown(Exception):
    """``%mlops COMMAND -h`` printed the command's help: nothing else to do."""


class _UsageParser(argparse.ArgumentParser):
    """argparse that reports mistakes as IPython UsageErrors instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError(message or f"{self.prog} failed")
        raise _HelpShown


def _parser(name: str, command: Command, front: Front, **options: Any) -> _UsageParser:
    parser = _UsageParser(prog=f"%mlops {name}", description=command.help, **options)
    command.add(parser, front)
    return parser


def usage(front: Front) -> str:
    """Every ``%mlops`` command: its usage line and what it does (``%mlops`` alone)."""
    lines = []
    for name, command in commands_of(front).items():
        synopsis = _parser(name, command, front, add_help=False).format_usage()
        lines.append(f"{' '.join(synopsis.removeprefix('usage: ').split())}\n"
                     f"    {command.help}")
    return "\n".join(lines) + "\n%mlops COMMAND -h: a command's arguments"


@magics_class
class MLOpsMagics(Magics):
    """``%mlops`` browses the store and runs the lifecycle commands."""

    shell: InteractiveShell

    def __init__(self, shell: InteractiveShell, state: KernelState) -> None:
        super().__init__(shell)
        self.state = state

    @line_magic
    def mlops(self, line: str) -> Any:
        """Browse the store and run the lifecycle commands, as the ``jupyter-mlops`` CLI does
        (data are the notebook's variables instead of files).

        ``%mlops`` alone lists the commands; ``%mlops COMMAND -h`` shows a command's
        arguments.
        """
        front = notebook(self.shell.user_ns)
        words = split_line(line)
        if not words:
            raise UsageError(f"%mlops needs a command:\n{usage(front)}")
        name, rest = words[0], words[1:]
        command = commands_of(front).get(name)
        if command is None:
            raise UsageError(f"unknown command {name!r}:\n{usage(front)}")
        try:
            args = _parser(name, command, front).parse_args(rest)
        except _HelpShown:
            return None
        try:
            if name == "store" and args.path:
                store = self.state.use_store(args.path)
            else:
                store = self.state.store()
            return getattr(self, "_" + name.replace("-", "_"))(store, args, front)
        except USER_ERRORS as exc:
            raise UsageError(explain(exc, front)) from None

    def _store(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(f"store: {store.directory} ({store.count_runs()} runs)")

    def _runs(self, store: Store, args: argparse.Namespace, front: Front) -> Any:
        runs, note = actions.runs(store, args)
        if args.frame:
            if note:
                print(note)
            return runs
        table = views.RunsFrame(runs)
        table.sort_key, table.note = args.sort, note
        return table

    def _show(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(views.show_run(store, args.run))

    def _lineage(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        from .. import charts  # plotly loads on first use, not at %load_ext

        print(views.format_lineage(store, args.run))
        run_id = store.resolve_run_id(args.run)
        display(charts.mimebundle(charts.lineage_graph(store, run_id)), raw=True)

    def _compare(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        from .. import charts

        figure = charts.compare_runs(store, args.runs, metrics=args.metric)
        display(charts.mimebundle(figure), raw=True)

    def _curves(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        from .. import charts

        if args.metric and len(args.metric) > 1:
            raise UsageError("%mlops curves takes one --metric")
        figure = charts.metric_curves(store, args.runs,
                                      key=args.metric[0] if args.metric else None)
        display(charts.mimebundle(figure), raw=True)

    def _diagnostics(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        from .. import charts

        display(charts.mimebundle(charts.diagnostics(store, args.run)), raw=True)

    def _drift(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        from .. import charts

        report = actions.drift(store, args, front)
        display(report)
        display(charts.mimebundle(report.figure()), raw=True)

    def _promote(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.promote(store, args, front))

    def _transition(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.transition(store, args, front))

    def _delete_version(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.delete_version(store, args))

    def _models(self, store: Store, args: argparse.Namespace, front: Front) -> Any:
        return store.models()

    def _events(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.events(store, args.subject, front))

    def _tag(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.tag(store, args))

    def _note(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.note(store, args))

    def _archive(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.archive(store, args, front))

    def _restore(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.archive(store, args, front, restore=True))

    def _delete(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.delete(store, args))

    def _push(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.push(store, args))

    def _pull(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.pull(store, args))

    def _config(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.config(store, args))

    def _policy(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.policy(store, args))

    def _group(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.group(store, args))

    def _approvals(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.approvals(store, args))

    def _approve(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.decide(store, args, approve=True))

    def _reject(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.decide(store, args, approve=False))

    def _export(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.export(store, args, front))

    def _retrain(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        print(actions.retrain(store, args, front))

    def _monitor(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        from .. import charts
        from ..lifecycle.monitoring import drift_history, performance_history

        if args.history:
            figure = charts.drift_over_time(drift_history(store, args.model),
                                            performance_history(store, args.model),
                                            model=args.model)
            display(charts.mimebundle(figure), raw=True)
            return
        result = actions.monitor(store, args, front)
        print(result.summary())
        display(charts.mimebundle(result.figure()), raw=True)

    def _rollout(self, store: Store, args: argparse.Namespace, front: Front) -> None:
        from .. import charts

        report = actions.rollout(store, args, front)
        print(report.summary())
        display(charts.mimebundle(report.figure()), raw=True)
