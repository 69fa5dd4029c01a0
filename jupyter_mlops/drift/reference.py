"""The reference profile of a run's training data, read from the lineage store.

Every dataset a tracked cell reads is stored with its profile (:func:`profile_of`), so drift
against the data a model was trained on needs only the run::

    from jupyter_mlops.drift import drift
    from jupyter_mlops.drift_reference import reference_profile

    report = drift(reference_profile(store, "fraud-lr"), new_data)
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import NotFoundError
from ..store import Store

__all__ = ["reference_profile"]


def reference_profile(store: Store, ref: str, *, name: str | None = None) -> dict[str, Any]:
    """The stored profile of the data a run trained on.

    Parameters
    ----------
    store : the lineage store holding the run.
    ref : a run id, a unique prefix of one, or a run name (its latest run).
    name : the variable of the input to use (e.g. ``"X_train"``). By default the data the
        run's model was fitted on (observed in its ``fit`` call), else the run's largest 2-D
        dataset input (most values), which is its training matrix even when the cell also
        read a test set.

    Returns
    -------
    dict
        A profile, as :func:`jupyter_mlops.profile.profile_of` returns, ready to be the
        reference of :func:`jupyter_mlops.drift.drift`.

    Raises
    ------
    RunNotFoundError
        No run matches ``ref``.
    NotFoundError
        The run read no 2-D dataset (or none named ``name``).
    """
    run_id = store.resolve_run_id(ref)
    rows = store.conn.execute(
        "SELECT io.name, d.shape, d.profile, io.detail FROM run_io io "
        "JOIN datasets d ON d.fingerprint = io.fingerprint "
        "WHERE io.run_id = ? AND io.direction = 'input' AND io.kind = 'dataset' "
        "ORDER BY io.rowid", [run_id],
    ).fetchall()
    inputs = [(input_name, json.loads(shape), profile) for input_name, shape, profile, _ in rows]
    fitted = [row for row, (*_, detail) in zip(inputs, rows, strict=True)
              if len(row[1]) == 2 and "fit_of" in json.loads(detail or "{}")]
    if name is not None:
        chosen = [row for row in inputs if row[0] == name]
        if not chosen:
            read = ", ".join(row[0] for row in inputs) or "no datasets"
            raise NotFoundError(f"run {run_id} read no dataset named {name!r} (it read {read})")
    else:
        chosen = fitted or [row for row in inputs if len(row[1]) == 2]
        if not chosen:
            raise NotFoundError(
                f"run {run_id} read no 2-D dataset (DataFrame or 2-D array) whose profile was "
                "stored: pass name= for another input, or the reference data itself to drift()"
            )
    _, _, profile = max(chosen, key=lambda row: math.prod(row[1]))  # first of equal sizes
    return dict(json.loads(profile))
