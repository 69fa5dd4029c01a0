"""``%mlops``: browse the store, compare, promote, retrain, monitor from a notebook."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display

from ..commands import views as report
from ..data.fingerprint import fingerprint_data
from ..errors import MLOpsError, NoEvaluationDataError, StoreError
from ..lifecycle.champion import parse_champion
from ..lifecycle.promotion import add_promotion_options, eval_data_names, promote
from ..store import Store
from .state import KernelState, split_line

MLOPS_USAGE = """\
%mlops runs [-e EXP] [-n N] [--sort K] [--asc] [--frame]  the latest runs (a DataFrame)
%mlops show RUN|MODEL                everything recorded about a run
%mlops lineage RUN|MODEL             upstream and downstream runs (text and a graph)
%mlops compare RUN... [--metric K]... metrics of several runs side by side
%mlops curves RUN... [--metric K]     logged metric curves over steps
%mlops diagnostics RUN               confusion/ROC/PR/calibration or residual charts (--eval)
%mlops promote RUN --name NAME [--stage S] [--gate EXPR] [--reason TEXT] [--force] [--no-verify]
%mlops models                        registered models, versions, stages (a DataFrame)
%mlops retrain RUN --data VAR=NEWVAR... [--promote-to S] [--gate G]  replay on new data
%mlops drift REF CUR                 drift of CUR against REF (a variable, a run or a model)
%mlops monitor MODEL DATA [--labels VAR]  drift (and performance) of new data; stored
%mlops monitor MODEL --history       drift and performance over the stored batches
%mlops events [NAME]                 the audit log
%mlops store [PATH]                  where the store is; switch to PATH"""


class _UsageParser(argparse.ArgumentParser):
    """argparse that reports mistakes as IPython UsageErrors instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage()}")



@magics_class
class MLOpsMagics(Magics):
    """``%mlops`` browses the store and runs the lifecycle commands."""

    shell: InteractiveShell

    def __init__(self, shell: InteractiveShell, state: KernelState) -> None:
        super().__init__(shell)
        self.state = state

    @line_magic
    def mlops(self, line: str) -> Any:
        """Browse the lineage store: ``runs``, ``show``, ``lineage``, ``store``.

        ``%mlops`` alone lists the commands and their arguments.
        """
        words = split_line(line)
        if not words:
            raise UsageError(f"%mlops needs a command:\n{MLOPS_USAGE}")
        command, rest = words[0], words[1:]
        try:
            if command == "store" and len(rest) == 1:
                store = self.state.use_store(rest[0])
            else:
                store = self.state.store()
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        if command == "store":
            if len(rest) > 1:
                raise UsageError("usage: %mlops store [PATH]")
            print(f"store: {store.directory} ({store.count_runs()} runs)")
            return None
        if command == "runs":
            return self._runs(store, rest)
        if command == "promote":
            return self._promote(store, rest)
        if command == "models":
            return store.models()
        if command == "retrain":
            return self._retrain(store, rest)
        if command == "monitor":
            return self._monitor(store, rest)
        if command == "drift":
            return self._drift(store, rest)
        if command == "events":
            print(report.format_events(store.events(rest[0] if rest else None)))
            return None
        if command in ("compare", "curves"):
            return self._figure(store, command, rest)
        if command == "diagnostics":
            if len(rest) != 1:
                raise UsageError("usage: %mlops diagnostics RUN")
            from .. import charts

            try:
                figure = charts.diagnostics(store, rest[0])
            except (LookupError, ValueError) as exc:
                raise UsageError(str(exc)) from None
            display(charts.mimebundle(figure), raw=True)
            return None
        if command in ("show", "lineage"):
            if len(rest) != 1:
                raise UsageError(f"usage: %mlops {command} RUN")
            try:
                if command == "show":
                    print(report.show_run(store, rest[0]))
                    return None
                from .. import charts  # plotly loads on first use, not at %load_ext

                run_id = store.resolve_run_id(rest[0])
                print(report.format_lineage(store, run_id))
                display(charts.mimebundle(charts.lineage_graph(store, run_id)), raw=True)
            except LookupError as exc:
                raise UsageError(str(exc)) from None
            return None
        raise UsageError(f"unknown command {command!r}:\n{MLOPS_USAGE}")


    def _figure(self, store: Store, command: str, words: list[str]) -> None:
        parser = _UsageParser(prog=f"%mlops {command}")
        parser.add_argument("runs", nargs="+", metavar="RUN")
        parser.add_argument("--metric", action="append", metavar="K")
        args = parser.parse_args(words)
        from .. import charts  # plotly loads on first use, not at %load_ext

        try:
            if command == "compare":
                figure = charts.compare_runs(store, args.runs, metrics=args.metric)
            else:
                if args.metric and len(args.metric) > 1:
                    raise UsageError("%mlops curves takes one --metric")
                figure = charts.metric_curves(store, args.runs,
                                              key=args.metric[0] if args.metric else None)
        except (LookupError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        display(charts.mimebundle(figure), raw=True)

    def _promote(self, store: Store, words: list[str]) -> None:
        parser = _UsageParser(prog="%mlops promote")
        parser.add_argument("run")
        add_promotion_options(parser)
        args = parser.parse_args(words)
        data = None
        try:
            if parse_champion(args.gate) is not None:
                data = self._eval_data(store, args.run)
            version = promote(args.run, name=args.name, stage=args.stage, gate=args.gate,
                              reason=args.reason, force=args.force,
                              verify=False if args.no_verify else None, data=data,
                              trusted=args.trust, store=store)
        except NoEvaluationDataError:
            raise UsageError(self._no_eval_data(store, args.run)) from None
        except (MLOpsError, ValueError, LookupError) as exc:
            raise UsageError(str(exc)) from None
        print(f"promoted: {report.format_version(version)}")

    def _retrain(self, store: Store, words: list[str]) -> None:
        from ..lifecycle.retrain import add_retrain_options, parse_bindings, retrain

        parser = _UsageParser(prog="%mlops retrain")
        add_retrain_options(parser)
        args = parser.parse_args(words)
        try:
            data = {}
            for name, variable in parse_bindings(args.data):
                if variable not in self.shell.user_ns:
                    raise UsageError(f"--data {name}={variable}: no variable {variable!r}")
                data[name] = self.shell.user_ns[variable]
            picked = store.resolve_run(args.run).note
            if picked:
                print(f"({picked})")
            run = retrain(args.run, data=data, gate=args.gate, promote_to=args.promote_to,
                          name=args.name, reason=args.reason,
                          verify=False if args.no_verify else None, trusted=args.trust,
                          store=store)
        except (MLOpsError, ValueError, LookupError) as exc:
            raise UsageError(str(exc)) from None
        print(f"retrained: run {run.run_id[:10]} ({run.name}) from {run.parent_run_id} · "
              f"{run.tags.get('promotion')}")

    def _runs(self, store: Store, words: list[str]) -> Any:
        parser = _UsageParser(prog="%mlops runs")
        parser.add_argument("-e", "--experiment", help="only the runs of this experiment")
        parser.add_argument("-n", "--limit", type=int, default=20,
                            help="how many runs, newest first (default 20)")
        parser.add_argument("--sort", default="started_at", metavar="KEY",
                            help="started_at (default), a column, metrics.K or params.K")
        parser.add_argument("--asc", action="store_true", help="lowest first")
        parser.add_argument("--frame", action="store_true",
                            help="return the plain DataFrame with every param column")
        args = parser.parse_args(words)
        try:
            runs = store.runs(args.experiment, limit=args.limit, sort=args.sort,
                              descending=not args.asc,
                              params="all" if args.frame else "differing")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if runs.empty and args.experiment is not None:
            known = ", ".join(store.experiments()) or "none yet"
            print(f"no runs in experiment {args.experiment!r} (experiments: {known})")
        if args.frame:
            return runs
        table = report.RunsFrame(runs)
        table.sort_key = args.sort
        return table

    def _monitor(self, store: Store, words: list[str]) -> None:
        from .. import charts
        from ..lifecycle.monitoring import drift_history, monitor, performance_history

        parser = _UsageParser(prog="%mlops monitor")
        parser.add_argument("model", help="NAME@STAGE, NAME/VERSION, a run, or a bundle path")
        parser.add_argument("data", nargs="?", help="the variable holding the new batch")
        parser.add_argument("--labels", metavar="VAR", help="the batch's true targets")
        parser.add_argument("--history", action="store_true",
                            help="chart drift and performance over the stored batches")
        args = parser.parse_args(words)
        try:
            if args.history:
                figure = charts.drift_over_time(drift_history(store, args.model),
                                                performance_history(store, args.model),
                                                model=args.model)
                display(charts.mimebundle(figure), raw=True)
                return
            if args.data is None:
                raise UsageError("%mlops monitor MODEL DATA: name the variable with the batch")
            values = [self._variable(n) for n in (args.data, args.labels) if n is not None]
            result = monitor(args.model, values[0], labels=values[1] if args.labels else None,
                             store=store)
        except (MLOpsError, ValueError, LookupError) as exc:
            raise UsageError(str(exc)) from None
        print(result.summary())
        display(charts.mimebundle(result.figure()), raw=True)

    def _drift(self, store: Store, words: list[str]) -> Any:
        from .. import charts
        from ..drift import drift
        from ..drift.reference import reference_profile

        if len(words) != 2:
            raise UsageError("usage: %mlops drift REF CUR — REF a variable, a run or a model "
                             "(its training data's profile), CUR a variable")
        reference_ref, current = words
        try:
            if reference_ref in self.shell.user_ns:
                reference = self.shell.user_ns[reference_ref]
            else:
                reference = reference_profile(store, store.resolve_run_id(reference_ref))
            report = drift(reference, self._variable(current))
        except (MLOpsError, ValueError, LookupError) as exc:
            raise UsageError(str(exc)) from None
        display(report)
        display(charts.mimebundle(report.figure()), raw=True)
        return None

    def _variable(self, name: str) -> Any:
        if name not in self.shell.user_ns:
            raise UsageError(f"no variable {name!r} in this notebook")
        return self.shell.user_ns[name]

    def _eval_data(self, store: Store, run_ref: str) -> tuple[Any, Any] | None:
        """The run's ``--eval X Y`` data from the namespace, if it is still the same data."""
        names = eval_data_names(store, store.resolve_run_id(run_ref))
        if names is None or any(n not in self.shell.user_ns for n in names):
            return None
        recorded = {e.name: e.fingerprint for e in store.get_run(run_ref).inputs}
        values = tuple(self.shell.user_ns[n] for n in names)
        for name, value in zip(names, values, strict=True):
            if name in recorded and fingerprint_data(value) != recorded[name]:
                raise UsageError(f"{name} has changed since the run was evaluated on it; "
                                 "the champion gate needs the same evaluation data")
        return values[0], values[1]

    def _no_eval_data(self, store: Store, run_ref: str) -> str:
        """Why the champion gate found no evaluation data for the run in this notebook."""
        names = eval_data_names(store, store.resolve_run_id(run_ref))
        if names is None:
            return (f"the champion gate re-scores both models on the run's evaluation data, "
                    f"but {run_ref} was not tracked with --eval X Y")
        return (f"the champion gate re-scores both models on {names[0]} and {names[1]}: "
                f"define them as they were when {run_ref} was evaluated, then promote again")


