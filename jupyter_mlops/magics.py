"""The IPython side: ``%%track``, ``%mlops`` and the cell-history hooks."""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

from IPython.core.displayhook import DisplayHook
from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult, InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from . import api, report
from .capture import RunRecorder, TrackOptions
from .capture.analysis import analyze
from .capture.cells import CellHistory
from .champion import parse_champion
from .errors import MLOpsError, NoEvaluationDataError, StoreError
from .fingerprint import fingerprint_data
from .promotion import add_promotion_options, eval_data_names, promote
from .store import Store, open_store

TRACK_PREFIX = "%%track"
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


def _warn(message: str) -> None:
    print(f"⚠ jupyter-mlops: {message}", file=sys.stderr)


class _SetCount(ast.NodeTransformer):
    """An AST "transformer" that changes nothing: it sets the shell's execution count at the
    moment IPython has compiled a cell and is about to run it."""

    def __init__(self, shell: InteractiveShell, count: int) -> None:
        self.shell, self.count = shell, count

    def visit(self, node: ast.AST) -> ast.AST:
        self.shell.execution_count = self.count
        return node


class _Tee:
    """A text stream that writes through to another and keeps a bounded copy."""

    def __init__(self, stream: Any, limit: int = 1_000_000) -> None:
        self._stream = stream
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit

    def write(self, text: str) -> int:
        if self._size < self._limit:
            self._parts.append(text)
            self._size += len(text)
        return self._stream.write(text)

    def getvalue(self) -> str:
        return "".join(self._parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class KernelState:
    """What the extension keeps per kernel: the store, the cell history, the current cell."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        self.history = CellHistory()
        self.store_path: Path | None = None
        self._store: Store | None = None
        self.nesting = 0
        self.current: ExecutionInfo | None = None

    def store(self) -> Store:
        """The store of this kernel, opened on first use."""
        if self._store is None:
            self._store = open_store(self.store_path)
        return self._store

    def use_store(self, path: str | None) -> Store:
        """Switch to another store directory (``None``: discover again); the current store
        stays in use when the new one cannot be opened."""
        store_path = Path(path).expanduser() if path else None
        opened = open_store(store_path)
        self.close()
        self._store, self.store_path = opened, store_path
        return opened

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def notebook(self) -> str | None:
        """The notebook path, when the kernel knows it."""
        return self.shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")

    # -- hooks -----------------------------------------------------------------------------
    def pre_run_cell(self, info: ExecutionInfo) -> None:
        if self.nesting == 0:
            self.current = info

    def post_run_cell(self, result: ExecutionResult) -> None:
        if self.nesting:
            return
        try:
            raw = (result.info.raw_cell if result.info else "") or ""
            if raw.lstrip().startswith(TRACK_PREFIX):
                raw = raw.lstrip().partition("\n")[2]
            source = self.shell.transform_cell(raw)
            self.history.add(
                source, analyze(source), execution_count=result.execution_count,
                cell_id=getattr(result.info, "cell_id", None), succeeded=result.success,
            )
        except Exception as exc:  # a hook must never disturb the user's session
            _warn(f"could not record the cell in the history: {exc}")


def _ends_with_semicolon(source: str) -> bool:
    """Whether a trailing ``;`` hides the cell's value (as IPython decides it)."""
    try:
        return bool(DisplayHook.semicolon_at_end_of_expression(source))
    except Exception:  # incomplete source: the cell will fail with its own SyntaxError
        return False


MAX_NAME_CHARS = 200  # a run name, experiment, tag, variable name of %%track


def _split(line: str) -> list[str]:
    """A magic's arguments, split as a shell would (quotes group words and are removed)."""
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot read the arguments {line!r} ({exc}): quote a value with "
                         "spaces as \"two words\"") from None


def _check_lengths(args: argparse.Namespace) -> None:
    for option, value in vars(args).items():
        for text in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(text, str) and len(text) > MAX_NAME_CHARS:
                raise UsageError(f"{option} {text[:30]!r}... is {len(text)} characters long; "
                                 f"at most {MAX_NAME_CHARS}")


def _parse_tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag needs KEY=VALUE, got {pair!r}")
        tags[key] = value
    return tags


@magics_class
class MLOpsMagics(Magics):
    """``%%track`` records a cell as an experiment run; ``%mlops`` browses the store."""

    shell: InteractiveShell

    def __init__(self, shell: InteractiveShell, state: KernelState) -> None:
        super().__init__(shell)
        self.state = state

    @magic_arguments()
    @argument("name", nargs="?", help="run name (default: run-<id>)")
    @argument("-e", "--experiment", default="default", help="experiment to file the run under")
    @argument("--tag", action="append", default=[], metavar="K=V", help="tag the run")
    @argument("--model", action="append", default=[], metavar="VAR",
              help="the variable holding the run's model (found automatically otherwise)")
    @argument("--data", action="append", default=[], metavar="VAR",
              help="also record VAR as an input dataset")
    @argument("--metric", action="append", default=[], metavar="VAR",
              help="record the number in VAR as a metric")
    @argument("--param", action="append", default=[], metavar="VAR",
              help="record the value of VAR as a parameter")
    @argument("--eval", nargs=2, metavar=("X", "Y"),
              help="score the model on X, Y with standard metrics; keep the predictions")
    @argument("--no-capture-output", action="store_true",
              help="do not keep the cell's stdout/stderr with the run")
    @cell_magic
    def track(self, line: str, cell: str) -> None:
        """Run the cell and record it as an experiment run in the lineage store.

        The cell behaves exactly as without ``%%track``; afterwards one line says what was
        recorded. Inside the cell, ``mlops.log_metric``/``log_param``/``log_artifact`` attach
        to this run. Errors in tracking become a warning and never affect the cell.
        """
        try:
            args = self.track.parser.parse_args(_split(line))
            _check_lengths(args)
            tags = _parse_tags(args.tag)
        except UsageError as exc:
            usage = " ".join(self.track.parser.format_usage().replace("::", "").split())
            raise UsageError(f"{exc}\nusage: %{usage}\n(%%track? shows the help)") from None
        options = TrackOptions(
            name=args.name, experiment=args.experiment, tags=tags,
            models=args.model, data=args.data, metrics=args.metric, params=args.param,
            eval=tuple(args.eval) if args.eval else None,
            capture_output=not args.no_capture_output,
        )
        self._run_tracked(cell, options)

    def _start(self, source: str, options: TrackOptions, count: int) -> RunRecorder | None:
        info = self.state.current
        try:
            store: Store | None = self.state.store()
        except Exception as exc:
            _warn(f"this run will not be recorded: {exc}")
            store = None
        try:
            recorder = RunRecorder(
                store, options, source, self.shell.user_ns, self.state.history,
                notebook=self.state.notebook(),
                cell_id=getattr(info, "cell_id", None) if info else None,
                execution_count=count,
            )
            recorder.prepare()
        except Exception as exc:
            _warn(f"this run will not be recorded: {exc}")
            return None
        for warning in recorder.early:  # a mistyped option name: say so before the result
            _warn(warning)
        if store is not None:
            try:
                recorder.begin()
            except Exception as exc:
                _warn(f"could not record the start of the run ({exc}); will retry at its end")
        return recorder

    def _run_tracked(self, cell: str, options: TrackOptions) -> None:
        shell = self.shell
        source = shell.transform_cell(cell)
        silent = _ends_with_semicolon(source)
        outer = shell.displayhook.exec_result
        # IPython counts the cell before running it: this cell is the outer result's number.
        count, next_count = (outer.execution_count if outer is not None
                             else shell.execution_count), shell.execution_count
        recorder = self._start(source, options, count)
        streams = (sys.stdout, sys.stderr)
        tees = (_Tee(sys.stdout), _Tee(sys.stderr)) if options.capture_output else None
        self.state.nesting += 1
        bump: _SetCount | None = None
        try:
            if tees:
                sys.stdout, sys.stderr = tees
            # The body is compiled under this cell's number (tracebacks say "Cell In[N]"),
            # then runs with IPython's count one ahead, as any cell does (Out[N]).
            shell.execution_count = count
            bump = _SetCount(shell, next_count)
            shell.ast_transformers.append(bump)
            with api.activate(recorder):
                inner = shell.run_cell(cell, store_history=False, silent=silent)
        finally:
            if bump in shell.ast_transformers:
                shell.ast_transformers.remove(bump)
            shell.execution_count = next_count
            sys.stdout, sys.stderr = streams
            self.state.nesting -= 1
            shell.displayhook.exec_result = outer
        error = inner.error_before_exec or inner.error_in_exec
        if outer is not None:
            outer.result = inner.result
            if error is not None:
                outer.error_in_exec = error  # the kernel reports the cell as failed
        if recorder is None:
            return
        try:
            result = recorder.finish(
                error, *(t.getvalue() for t in tees) if tees else ("", "")
            )
        except Exception as exc:
            _warn(f"run {recorder.run_id[:10]} could not be recorded: {exc}")
            recorder.abandon(str(exc))
            return
        print(recorder.summary(result))

    @line_magic
    def mlops(self, line: str) -> Any:
        """Browse the lineage store: ``runs``, ``show``, ``lineage``, ``store``.

        ``%mlops`` alone lists the commands and their arguments.
        """
        words = _split(line)
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
            from . import charts

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
                from . import charts  # plotly loads on first use, not at %load_ext

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
        from . import charts  # plotly loads on first use, not at %load_ext

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
        from .retrain import add_retrain_options, parse_bindings, retrain

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
        from . import charts
        from .monitoring import monitor

        parser = _UsageParser(prog="%mlops monitor")
        parser.add_argument("model", help="NAME@STAGE, NAME/VERSION, a run, or a bundle path")
        parser.add_argument("data", nargs="?", help="the variable holding the new batch")
        parser.add_argument("--labels", metavar="VAR", help="the batch's true targets")
        parser.add_argument("--history", action="store_true",
                            help="chart drift and performance over the stored batches")
        args = parser.parse_args(words)
        try:
            if args.history:
                display(charts.mimebundle(charts.drift_over_time(store, args.model)), raw=True)
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
        from . import charts
        from .drift import drift
        from .drift_reference import reference_profile

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


class _UsageParser(argparse.ArgumentParser):
    """argparse that reports mistakes as IPython UsageErrors instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage()}")


_state: KernelState | None = None


def load(shell: InteractiveShell) -> None:
    """Register the magics and hooks on ``shell`` (``%load_ext jupyter_mlops``)."""
    global _state
    if _state is not None:
        unload(shell)
    _state = KernelState(shell)
    shell.register_magics(MLOpsMagics(shell, _state))
    shell.events.register("pre_run_cell", _state.pre_run_cell)
    shell.events.register("post_run_cell", _state.post_run_cell)


def unload(shell: InteractiveShell) -> None:
    """Remove the hooks and magics again (``%unload_ext``/``%reload_ext``)."""
    global _state
    if _state is None:
        return
    for event, callback in (("pre_run_cell", _state.pre_run_cell),
                            ("post_run_cell", _state.post_run_cell)):
        try:
            shell.events.unregister(event, callback)
        except ValueError:
            pass
    for kind in ("cell", "line"):
        shell.magics_manager.magics[kind].pop("track" if kind == "cell" else "mlops", None)
    _state.close()
    _state = None
