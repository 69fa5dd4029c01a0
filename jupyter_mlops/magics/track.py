"""``%%track``: run a cell and record it as an experiment run."""

from __future__ import annotations

import argparse
import ast
import sys
from typing import TYPE_CHECKING, Any

from IPython.core.displayhook import DisplayHook
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .state import KernelState, split_line, warn

if TYPE_CHECKING:  # imported when a cell is tracked (or by the warm-up), not at %load_ext
    from ..capture import RunRecorder, TrackOptions
    from ..store import Store

MAX_NAME_CHARS = 200  # a run name, experiment, tag, variable name of %%track

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


def _ends_with_semicolon(source: str) -> bool:
    """Whether a trailing ``;`` hides the cell's value (as IPython decides it)."""
    try:
        return bool(DisplayHook.semicolon_at_end_of_expression(source))
    except Exception:  # incomplete source: the cell will fail with its own SyntaxError
        return False


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
class TrackMagics(Magics):
    """``%%track`` records a cell as an experiment run."""

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
            args = self.track.parser.parse_args(split_line(line))
            _check_lengths(args)
            tags = _parse_tags(args.tag)
        except UsageError as exc:
            usage = " ".join(self.track.parser.format_usage().replace("::", "").split())
            raise UsageError(f"{exc}\nusage: %{usage}\n(%%track? shows the help)") from None
        from ..capture import TrackOptions

        options = TrackOptions(
            name=args.name, experiment=args.experiment, tags=tags,
            models=args.model, data=args.data, metrics=args.metric, params=args.param,
            eval=tuple(args.eval) if args.eval else None,
            capture_output=not args.no_capture_output,
        )
        self._run_tracked(cell, options)

    def _start(self, source: str, options: TrackOptions, count: int) -> RunRecorder | None:
        from ..capture import RunRecorder

        info = self.state.current
        try:
            store: Store | None = self.state.store()
        except Exception as exc:
            warn(f"this run will not be recorded: {exc}")
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
            warn(f"this run will not be recorded: {exc}")
            return None
        for warning in recorder.early:  # a mistyped option name: say so before the result
            warn(warning)
        if store is not None:
            try:
                recorder.begin()
            except Exception as exc:
                warn(f"could not record the start of the run ({exc}); will retry at its end")
        return recorder

    def _run_tracked(self, cell: str, options: TrackOptions) -> None:
        from ..capture import log as api

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
            warn(f"run {recorder.run_id[:10]} could not be recorded: {exc}")
            recorder.abandon(str(exc))
            return
        self.state.auto_push()
        from IPython.display import display

        from .summary import summary_bundle

        # the line as text; in JupyterLab also a button opening the run in the sidebar
        display(summary_bundle(recorder.summary(result), recorder.run_id), raw=True)

