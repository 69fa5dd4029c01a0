"""The IPython front end (L6): ``%%track`` (:mod:`.track`), ``%mlops`` (:mod:`.mlops`) and the
cell-history hooks (:mod:`.state`).

May import everything below it; only this package, ``widgets`` and ``server`` import IPython or
Jupyter.
"""

from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell

from .mlops import MLOpsMagics
from .state import KernelState
from .track import TrackMagics

_state: KernelState | None = None


def load(shell: InteractiveShell) -> None:
    """Register the magics and hooks on ``shell`` (``%load_ext jupyter_mlops``)."""
    global _state
    if _state is not None:
        unload(shell)
    _state = KernelState(shell)
    shell.register_magics(TrackMagics(shell, _state), MLOpsMagics(shell, _state))
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
