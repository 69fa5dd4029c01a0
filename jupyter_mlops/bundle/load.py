"""Load a deployment bundle back: integrity first, then types, then the model.

What the model may contain is decided by this loader (``trust.allowlist()`` plus the caller's
``trusted=``), never by the bundle. A .zip is unpacked once into a cache keyed by its sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import BundleError, StoreError
from ..store import Store, open_store
from . import serve, trust
from .notebook_code import MEDIA_TYPE

MAX_UNPACKED_BYTES = 8 * 1024**3
MAX_MEMBERS = 10_000


@dataclass
class Bundle:
    """A loaded bundle: the model, its input schema and its metadata.

    Predictions go through the same code as the bundle's server (``serve.py``): the input is
    checked against the schema, and forests use the exact fast path.
    """

    path: Path
    served: serve.Model

    @property
    def model(self) -> Any:
        """The fitted model."""
        return self.served.model

    @property
    def schema(self) -> dict[str, Any]:
        """The input schema (schema.json)."""
        return self.served.schema

    @property
    def metadata(self) -> dict[str, Any]:
        """The manifest: format version, model, the types it holds, file hashes."""
        return self.served.manifest

    @property
    def columns(self) -> list[str]:
        """The input columns, in order."""
        return self.served.columns

    def _features(self, data: Any) -> Any:
        try:
            frame = data if isinstance(data, pd.DataFrame) else serve.frame_from_payload(
                data, self.columns)
            frame = serve.validate(frame, self.schema)
        except serve.RequestError as exc:
            raise BundleError(f"input does not match the bundle's schema: {exc}") from None
        return frame.to_numpy() if self.served.as_array else frame

    def predict(self, data: Any) -> Any:
        """Predictions for a DataFrame (or records) checked against the schema."""
        return self.served.predictor(self._features(data))

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities, for models that have them."""
        if not hasattr(self.model, "predict_proba"):
            raise BundleError(f"{type(self.model).__name__} has no predict_proba")
        return self.model.predict_proba(self._features(data))


def cache_directory() -> Path:
    """Where unpacked .zip bundles are kept: ``$JUPYTER_MLOPS_CACHE``, else the user's cache
    directory (``$XDG_CACHE_HOME`` or ``~/.cache``) under ``jupyter-mlops``."""
    configured = os.environ.get("JUPYTER_MLOPS_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jupyter-mlops"


def _check_members(archive: zipfile.ZipFile, label: Path) -> None:
    """Refuse members that could land outside the target, links, and archives too large."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise BundleError(f"{label} holds {len(members)} files: not a bundle; refused")
    total = 0
    for member in members:
        name = member.filename
        parts = name.rstrip("/").split("/")
        if name.startswith("/") or "\\" in name or ":" in name or ".." in parts:
            raise BundleError(f"{label} holds {name!r}, a path outside the bundle: refused")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise BundleError(f"{label} holds {name!r}, a symbolic link: refused")
        total += member.file_size
    if total > MAX_UNPACKED_BYTES:
        raise BundleError(f"{label} unpacks to {total} bytes, more than {MAX_UNPACKED_BYTES}: "
                          "refused")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpacked(path: str | Path) -> Path:
    """A bundle directory: ``path`` itself, or a .zip unpacked once into the cache (keyed by
    the archive's sha256, so every later call reuses it and nothing piles up)."""
    root = Path(path)
    if root.is_file():
        try:
            archive = zipfile.ZipFile(root)
        except (zipfile.BadZipFile, OSError) as exc:
            raise BundleError(f"{path} is not a bundle directory or .zip ({exc})") from None
        target = cache_directory() / "bundles" / _sha256(root)
        with archive:
            if not target.is_dir():
                _check_members(archive, root)
                target.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=target.parent))
                try:
                    archive.extractall(staging)
                    os.replace(staging, target)
                except OSError:
                    if not target.is_dir():  # not lost to a concurrent unpacking
                        raise
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
        root = target
    if not root.is_dir():
        raise BundleError(f"{path} is not a bundle directory or .zip")
    return root


def code_recorded(root: Path, store: Store | None = None) -> bool:
    """Whether the bundle's notebook code is what ``store`` (default: the store found from
    the working directory, never created) recorded when it exported a bundle."""
    path = root / trust.CODE_PATH
    if not path.is_file():
        return False
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        opened = store or open_store(create=False)
    except StoreError:
        return False
    try:
        row = opened.conn.execute("SELECT 1 FROM artifacts WHERE sha256 = ? AND media_type = ?",
                                  [digest, MEDIA_TYPE]).fetchone()
    finally:
        if store is None:
            opened.close()
    return row is not None


def load_bundle(path: str | Path, *, trusted: list[str] | None = None,
                trust_code: bool = False, store: Store | None = None) -> Bundle:
    """Verify a bundle directory (or .zip) against its manifest and load its model.

    The manifest must list every file of the bundle, each inside it, with its sha256; the
    model is then audited against the loader's allowlist (scikit-learn's estimators and the
    exact internal, numpy and scipy types they need) plus ``trusted`` before any object is
    built. The bundle's own type lists are never used.

    Parameters
    ----------
    path : a bundle directory or .zip
    trusted : exact type or function names to allow beyond the allowlist
    trust_code : run the notebook functions the bundle carries (``code/notebook_functions.py``);
        without it they run only when ``store`` (default: the store found from the working
        directory) recorded that exact code when it exported the bundle
    """
    root = unpacked(path)
    try:
        manifest = serve.verify_manifest(root)
        allowed = trust_code or code_recorded(root, store)
        return Bundle(root, serve.Model(root, manifest=manifest, trusted=trusted or (),
                                        trust_code=allowed))
    except (serve.IntegrityError, trust.ModelRefused) as exc:
        raise BundleError(str(exc)) from None
