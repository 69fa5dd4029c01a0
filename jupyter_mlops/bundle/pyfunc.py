"""MLflow's ``python_function`` loader for a bundle (shipped as ``code/mlops_pyfunc.py``).

``mlflow.pyfunc.load_model(bundle)`` imports this module (the MLmodel names it as
``loader_module``, with ``code: code``) and calls ``_load_pyfunc``. It loads the model through
the bundle's ``serve.py``: the manifest is verified and the model audited against the
loader's allowlist, never against the bundle's own type lists. Extra exact type names are
trusted with ``mlflow.pyfunc.load_model(path, model_config={"trust": ["pkg.Type"]})``, and
the notebook functions a bundle carries run only with ``model_config={"trust_code": True}``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any


class BundleModel:
    """What MLflow calls: ``predict(frame)`` checked against the bundle's schema."""

    def __init__(self, served: Any, refused: type[Exception] = ValueError) -> None:
        self.served = served
        self.refused = refused  # serve.py's RequestError: the input does not fit the schema

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions for a DataFrame (or any MLflow scoring payload); an input the schema
        refuses raises the hosting server's own request error."""
        try:
            features = self.served.features(model_input)
        except self.refused as exc:
            raise _request_error(str(exc)) from None
        return self.served.predictor(features)

    def get_raw_model(self) -> Any:
        """The scikit-learn model."""
        return self.served.model


def _request_error(message: str) -> Exception:
    """A refused input as the error of the server hosting the model, which then answers 400
    with the message instead of 500 and a traceback: MLServer's ``InferenceError`` (KServe),
    else MLflow's ``INVALID_PARAMETER_VALUE`` (``mlflow models serve``)."""
    try:
        if "mlserver" in sys.modules:
            from mlserver.errors import InferenceError

            return InferenceError(message)
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
    except ImportError:
        return ValueError(message)


def _bundle_defaults(root: Path) -> dict[str, Any]:
    """The model_config the bundle's own MLmodel declares (``config``; MLflow passes it to the
    loader unless overridden): it may only hold the defaults."""
    import yaml

    flavors = (yaml.safe_load((root / "MLmodel").read_text()) or {}).get("flavors") or {}
    return dict((flavors.get("python_function") or {}).get("config") or {})


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> BundleModel:
    root = Path(path)
    root = root if root.is_dir() else root.parent
    declared = _bundle_defaults(root)
    if declared.get("trust") or declared.get("trust_code"):
        raise PermissionError(f"{root / 'MLmodel'} sets trust options itself ({declared}): what "
                              "a bundle may run is the loader's decision, never the bundle's; "
                              "refused")
    spec = importlib.util.spec_from_file_location("mlops_bundle_serve", root / "serve.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"{root / 'serve.py'} cannot be imported")
    serve = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = serve
    spec.loader.exec_module(serve)
    config = model_config or {}
    return BundleModel(serve.Model(root, trusted=list(config.get("trust", [])),
                                   trust_code=bool(config.get("trust_code", False))),
                       refused=serve.RequestError)
