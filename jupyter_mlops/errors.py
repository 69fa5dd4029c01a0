"""The one exception hierarchy of jupyter-mlops.

Every message says what happened and what to do about it.
"""

from __future__ import annotations

from pathlib import Path


class MLOpsError(Exception):
    """Base class of every error raised on purpose by jupyter-mlops."""


class StoreError(MLOpsError):
    """The lineage store cannot be opened, read or written."""


class CorruptStoreError(StoreError):
    """The store file exists but is not a jupyter-mlops SQLite database."""

    def __init__(self, path: object, detail: str) -> None:
        super().__init__(
            f"{path} is not a readable jupyter-mlops store ({detail}). "
            "It was left untouched: move it aside or point JUPYTER_MLOPS_STORE at another "
            "directory."
        )


class EmptyStoreError(CorruptStoreError):
    """``lineage.db`` exists but holds 0 bytes: it was truncated, and is not re-initialised."""

    def __init__(self, path: Path) -> None:
        self.path = path
        StoreError.__init__(
            self,
            f"{path} is empty (0 bytes): the store was truncated, and it was not re-initialised "
            "so that nothing more is lost. Copy the whole folder aside first; the runs may be "
            f"recoverable from {path.name}-wal beside it (open that copy with sqlite3 and run "
            f"`.recover`) or from a backup. If this store never held anything, delete {path.name}."
        )


class StoreNotFoundError(StoreError):
    """A store was asked for without creating one, and there is none at that place.

    ``origin`` says where the place came from: ``"path"`` (given explicitly), ``"env"``
    (``$JUPYTER_MLOPS_STORE``), ``"found"`` (the nearest ``.mlops/``, without a database) or
    ``"discovered"`` (no ``.mlops/`` upwards).
    """

    def __init__(self, directory: Path, origin: str) -> None:
        self.directory = directory
        self.origin = origin
        if origin == "discovered":
            message = (f"no jupyter-mlops store found: no .mlops/ in {Path.cwd()} or above, "
                       "and $JUPYTER_MLOPS_STORE is not set; run a tracked cell first, or give "
                       "the store's path")
        else:
            where = {"env": ", where $JUPYTER_MLOPS_STORE points", "found": ", the nearest .mlops/"}
            check = {"env": "check $JUPYTER_MLOPS_STORE", "found": "give the store's path"}
            message = (f"no jupyter-mlops store at {directory}{where.get(origin, '')} (it has no "
                       f"lineage.db); {check.get(origin, 'check the path')}, or run a tracked "
                       "cell first")
        super().__init__(message)


class StoreVersionError(StoreError):
    """The store was written by a newer jupyter-mlops than this one."""

    def __init__(self, path: object, unknown: list[str]) -> None:
        super().__init__(
            f"{path} was written by a newer jupyter-mlops (unknown schema migrations: "
            f"{', '.join(unknown)}). Upgrade with `pip install -U jupyter-mlops`; "
            "the store was not modified."
        )


class NotFoundError(MLOpsError, LookupError):
    """A run, model or artifact that was asked for does not exist."""


class RunNotFoundError(NotFoundError):
    """No run has the given id (or unique id prefix)."""

    def __init__(self, run_id: str, detail: str = "") -> None:
        hint = detail or "list runs with `%mlops runs` or `jupyter-mlops runs`"
        super().__init__(f"no run {run_id!r} in this store: {hint}")


class AmbiguousRunError(RunNotFoundError):
    """A run id prefix matches several runs."""

    def __init__(self, prefix: str, count: int, examples: str) -> None:
        NotFoundError.__init__(self, f"ambiguous: {prefix!r} matches {count} runs "
                               f"({examples}); give more characters of the run id")


class RunInUseError(MLOpsError):
    """A run cannot be deleted: it is still running, or a registered model version's run."""


class ArtifactError(MLOpsError):
    """An artifact is missing, unreadable or does not match its recorded hash."""


class NoActiveRunError(MLOpsError):
    """A logging call was made outside a `%%track` cell."""

    def __init__(self, call: str) -> None:
        super().__init__(
            f"mlops.{call}() logs to the run of the cell being tracked, and no cell is being "
            "tracked now. Put `%%track` on the first line of the cell (after "
            "`%load_ext jupyter_mlops`)."
        )


class GateError(MLOpsError, ValueError):
    """A promotion gate expression is malformed or names an unknown metric."""


class PromotionError(MLOpsError):
    """A promotion was refused (a failed gate, a failed verification) or is impossible."""


class NoEvaluationDataError(PromotionError):
    """The champion gate has a champion to beat but no evaluation data to score both on."""


class BundleError(MLOpsError):
    """A deployment bundle cannot be written, or fails its integrity or type checks."""


class UnfinishedRunError(PromotionError, BundleError):
    """A failed, interrupted or still running run was asked to be promoted or bundled."""

    def __init__(self, run_id: str, name: str, status: str, error: str | None = None) -> None:
        why = f" ({error})" if error else ""
        what = {"interrupted": "was interrupted", "running": "is still running"}.get(
            status, status)
        super().__init__(
            f"run {run_id} ({name}) {what}{why}: only the model of a finished run can be "
            "promoted or bundled, since a run that did not finish may not have made the model "
            "it names. Fix the cell and run it again under %%track, then promote that run."
        )


class NoPredictionsError(NotFoundError):
    """A diagnostics chart was asked of a run that kept no ``--eval`` predictions."""

    def __init__(self, run: str) -> None:
        super().__init__(
            f"run {run} kept no predictions to draw diagnostics from. Track the cell that fits "
            "the model with `%%track --eval X_test y_test` (your held-out features and target) "
            "and the run keeps the model's predictions on them."
        )


class DriftError(MLOpsError, ValueError):
    """Data given to ``drift()`` cannot be compared: no rows, not a table, not a profile."""


class SyncError(MLOpsError):
    """Pushing to or pulling from an MLflow tracking server failed."""


class SettingError(MLOpsError, ValueError):
    """A store setting (``jupyter-mlops config``) that does not exist, or a value it refuses."""


class MissingExtraError(SyncError, ImportError):
    """An optional extra (a library the core package does without) is not installed."""

    def __init__(self, extra: str, module: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the `{module}` package, which is not installed: "
            f"pip install 'jupyter-mlops[{extra}]'")


class ApprovalError(PromotionError):
    """An approval request cannot be acted on: unknown, already closed, or expired."""


class NotAllowedError(ApprovalError):
    """The acting user may not approve or reject this request (the policy says who may)."""
