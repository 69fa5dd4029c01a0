"""The IPython front end (L6): ``%%track`` (:mod:`.track`), ``%mlops`` (:mod:`.mlops`) and the
cell-history hooks (:mod:`.state`).

May import everything below it; only this package, ``widgets`` and ``server`` import IPython or
Jupyter. ``%load_ext`` imports :mod:`.track` and :mod:`.state` only; :mod:`.mlops` and the
layers a tracked cell needs load on the warm-up thread (see :mod:`.state`) or on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

from .state import KernelState
from .track import TrackMagics

_state: KernelState | None = None


def _import_mlops() -> None:
    """The last step of the warm-up: what ``%mlops`` imports (commands, reports, lifecycle)."""
    from . import mlops  # noqa: F401


class _MLOpsOnFirstUse:
    """``%mlops`` until its first use, which imports :mod:`.mlops` and registers the real
    magic in this one's place."""

    def __init__(self, shell: InteractiveShell, state: KernelState) -> None:
        self.shell, self.state = shell, state

    def __call__(self, line: str) -> Any:
        return self._register()(line)

    def getdoc(self) -> str | None:
        """What ``%mlops?`` shows: the real magic's help."""
        from .mlops import MLOpsMagics

        return MLOpsMagics.mlops.__doc__

    def _register(self) -> Callable[[str], Any]:
        from .mlops import MLOpsMagics

        magics = MLOpsMagics(self.shell, self.state)
        self.shell.register_magics(magics)
        return magics.magics["line"]["mlops"]


def load(shell: InteractiveShell) -> None:
    """Register the magics and hooks on ``shell`` (``%load_ext jupyter_mlops``)."""
    global _state
    if _state is not None:
        unload(shell)
    _state = KernelState(shell, warm_up_last=_import_mlops)
    shell.register_magics(TrackMagics(shell, _state))
    shell.magics_manager.magics["line"]["mlops"] = _MLOpsOnFirstUse(shell, _state)
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
