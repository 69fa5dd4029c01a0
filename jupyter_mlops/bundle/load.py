"""Load a deployment bundle back: integrity first, then types, then the model."""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import BundleError
from ..modelio import foreign_types
from . import serve


@dataclass
class Bundle:
    """A loaded bundle: the model, its input schema and its metadata."""

    path: Path
    model: Any
    schema: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    def _features(self, data: Any) -> Any:
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
        try:
            frame = serve.validate(serve.frame_from_payload(frame.to_dict("records"),
                                                            self.columns), self.schema)
        except serve.RequestError as exc:
            raise BundleError(f"input does not match the bundle's schema: {exc}") from None
        return frame if self.schema.get("feature_names", True) else frame.to_numpy()

    @property
    def columns(self) -> list[str]:
        """The input columns, in order."""
        return [c["name"] for c in self.schema["columns"]]

    def predict(self, data: Any) -> Any:
        """Predictions for a DataFrame (or records) checked against the schema."""
        return self.model.predict(self._features(data))

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
    model = sio.load(model_file, trusted=present)
    schema = json.loads((root / "schema.json").read_text())
    return Bundle(root, model, schema, manifest)
