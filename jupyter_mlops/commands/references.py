"""What a command's references name, and the messages when they name nothing.

A RUN or MODEL reference (run id, prefix, ``NAME@STAGE``, ``NAME/VERSION``, run name) is
resolved by the store (:mod:`jupyter_mlops.store.names`, one rule for every caller); here are
the front ends' part: the note saying which run a name picked, data named by a variable or a
file, and the one translation of an expected error into the line a user reads.
"""

from __future__ import annotations

from typing import Any

from ..errors import MLOpsError, PromotionError, StoreNotFoundError
from ..store import Store
from .fronts import Front

# What a command reports as a message instead of a traceback: the package's own errors, and
# the ValueError/LookupError of bad input (an unknown sort key, a file that is no table).
USER_ERRORS = (MLOpsError, ValueError, LookupError)


def explain(exc: BaseException, front: Front) -> str:
    """The message a user reads for an expected error (one of :data:`USER_ERRORS`)."""
    if isinstance(exc, StoreNotFoundError) and exc.origin == "path" and not front.notebook:
        return (f"no jupyter-mlops store at {exc.directory} (it has no lineage.db); check "
                "--store, or run a tracked cell first")
    return str(exc)


def picked(store: Store, ref: str) -> tuple[str, str]:
    """(run id, ``"(note)\\n"`` when a name with several runs picked one, else ``""``)."""
    resolution = store.resolve_run(ref)
    return resolution.run_id, f"({resolution.note})\n" if resolution.note else ""


def reference_data(store: Store, ref: str, front: Front) -> Any:
    """``drift REF``: the data ``ref`` names in ``front`` (a variable, a file), else the
    training data's profile of the run or model ``ref``."""
    from ..drift.reference import reference_profile

    try:
        return front.value(ref)
    except LookupError:
        return reference_profile(store, store.resolve_run_id(ref))


def eval_data(store: Store, run_ref: str, front: Front) -> tuple[Any, Any] | None:
    """The run's ``--eval X Y`` data, as the champion gate needs it: the notebook's variables
    of those names, if they still hold the data the run was evaluated on; else None."""
    from ..data.fingerprint import fingerprint_data
    from ..lifecycle.promotion import eval_data_names

    names = eval_data_names(store, store.resolve_run_id(run_ref))
    if names is None or not front.notebook:
        return None
    try:
        values = tuple(front.value(n) for n in names)
    except LookupError:
        return None
    recorded = {e.name: e.fingerprint for e in store.get_run(run_ref).inputs}
    for name, value in zip(names, values, strict=True):
        if name in recorded and fingerprint_data(value) != recorded[name]:
            raise PromotionError(f"{name} has changed since the run was evaluated on it; "
                                 "the champion gate needs the same evaluation data")
    return values[0], values[1]


def no_eval_data(store: Store, run_ref: str, front: Front) -> str | None:
    """Why the champion gate found no evaluation data for the run in the notebook (None on
    the command line: the gate's own message says to promote from the notebook)."""
    from ..lifecycle.promotion import eval_data_names

    if not front.notebook:
        return None
    names = eval_data_names(store, store.resolve_run_id(run_ref))
    if names is None:
        return (f"the champion gate re-scores both models on the run's evaluation data, "
                f"but {run_ref} was not tracked with --eval X Y")
    return (f"the champion gate re-scores both models on {names[0]} and {names[1]}: "
            f"define them as they were when {run_ref} was evaluated, then promote again")
