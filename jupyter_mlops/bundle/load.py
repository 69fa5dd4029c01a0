"""Load a deployment bundle back: integrity first, then types, then the model."""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import BundleError
from ..modelio import foreign_types
from . import serve


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
        """The manifest: format version, model, trusted types, file hashes."""
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


def unpacked(path: str | Path) -> Path:
    """A bundle directory: ``path`` itself, or a .zip extracted to a temporary directory."""
    root = Path(path)
    if root.is_file() and zipfile.is_zipfile(root):
        extracted = Path(tempfile.mkdtemp(prefix="mlops-bundle-"))
        with zipfile.ZipFile(root) as archive:
            archive.extractall(extracted)
        root = extracted
    if not root.is_dir():
        raise BundleError(f"{path} is not a bundle directory or .zip")
    return root


def load_bundle(path: str | Path, *, trusted: list[str] | None = None) -> Bundle:
    """Verify a bundle directory (or .zip) against its manifest and load its model.

    Every file's sha256 is checked before anything is loaded; the model's types are audited
    (scikit-learn, numpy and scipy types, plus ``trusted``) before any object is built.
    """
    root = unpacked(path)
    try:
        manifest = serve.verify_manifest(root)
    except serve.IntegrityError as exc:
        raise BundleError(str(exc)) from None
    import skops.io as sio

    model_file = root / "model.skops"
    present = sorted(sio.get_untrusted_types(file=model_file))
    foreign = foreign_types(present, trusted)
    if foreign:
        raise BundleError(f"{model_file} contains types outside scikit-learn/numpy/scipy: "
                          f"{', '.join(foreign)}; pass trusted=[...] if you trust them")
    if sorted(manifest.get("skops_trusted_types", [])) != present:
        raise BundleError(f"{model_file} holds types its manifest does not list: the bundle "
                          "is inconsistent; export it again")
    return Bundle(root, serve.Model(root, manifest=manifest))
