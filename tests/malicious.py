"""A corpus of hostile skops models and bundles, built at test time.

Each gadget is a real exploit when its types are trusted (``test_the_corpus_is_real`` proves
it): scoring runs ``CODE``/``SHELL``, which create the marker file. A hostile bundle also lists
every type of its model as trusted in its own MANIFEST.json and MLmodel, which must not help.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
import operator
import os
from pathlib import Path
from typing import Any

import numpy as np


def _chain(final: Any, payload: str) -> Any:
    """full_like → ravel → max → ``final``: turns any input frame into ``final(payload)``."""
    from sklearn.dummy import DummyRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    steps = [FunctionTransformer(np.full_like, kw_args={"fill_value": payload,
                                                        "dtype": object}),
             FunctionTransformer(np.ravel), FunctionTransformer(builtins.max),
             FunctionTransformer(final)]
    pipeline = Pipeline([(f"s{i}", step) for i, step in enumerate(steps)]
                        + [("model", DummyRegressor())])
    for step in steps:
        step.fit(np.zeros((1, 1)))
    pipeline.steps[-1][1].fit(np.zeros((1, 1)), [0.0])
    return pipeline


def gadgets(marker: Path) -> dict[str, tuple[Any, str]]:
    """name → (model, the type its refusal must name)."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    shell = f"touch {marker}"
    return {
        "exec_chain": (_chain(builtins.exec, code), "builtins.exec"),
        "posix_system": (_chain(os.system, shell), f"{os.system.__module__}.system"),
        "attrgetter": (_chain(operator.attrgetter("__class__"), code), "operator.attrgetter"),
        "methodcaller": (_chain(operator.methodcaller("__init__"), code),
                         "operator.methodcaller"),
        "partial_builtin": (_chain(functools.partial(builtins.exec), code), "builtins.exec"),
    }


def dump(model: Any) -> tuple[bytes, list[str]]:
    """The skops bytes of ``model`` and every type skops would not trust by itself."""
    import skops.io as sio

    data = sio.dumps(model)
    return data, sorted(sio.get_untrusted_types(data=data))


def write_bundle(root: Path, model_bytes: bytes, trusted_types: list[str], *,
                 mlflow_config: bool = False) -> Path:
    """A bundle laid out like an exported one, with this model and a manifest (and MLmodel)
    that list ``trusted_types`` as trusted: what an attacker would ship. ``mlflow_config``:
    the MLmodel's model_config also trusts them (MLflow passes it to the loader)."""
    config = json.dumps({"trust": trusted_types if mlflow_config else [],
                         "trust_code": mlflow_config})
    from jupyter_mlops.bundle.export import CODE_FILES, SERVE_SOURCE

    root.mkdir(parents=True)
    files: dict[str, bytes] = {
        "model.skops": model_bytes,
        "schema.json": json.dumps({"columns": [{"name": "x", "dtype": "float64",
                                                "kind": "number", "nullable": False}],
                                   "feature_names": True, "prediction": {}}).encode(),
        "input_example.json": json.dumps({"columns": ["x"], "data": [[1.0]]}).encode(),
        "serve.py": SERVE_SOURCE.read_bytes(),
        "MLmodel": (
            "flavors:\n  python_function:\n    code: code\n    loader_module: mlops_pyfunc\n"
            f"    config: {config}\n"
            "  sklearn:\n    pickled_model: model.skops\n    serialization_format: skops\n"
            f"    skops_trusted_types: {json.dumps(trusted_types)}\n"
        ).encode(),
        **{name: source.read_bytes() for name, source in CODE_FILES.items()},
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    manifest = {"format": "jupyter-mlops-bundle", "format_version": 1,
                "model": {"class": "Pipeline", "run_id": "x"},
                "skops_trusted_types": trusted_types, "model_types": trusted_types,
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    (root / "MANIFEST.json").write_text(json.dumps(manifest))
    return root


def rehash(root: Path) -> None:
    """Rewrite MANIFEST.json's hashes for the files it lists (an attacker can do this)."""
    manifest = json.loads((root / "MANIFEST.json").read_text())
    manifest["files"] = {name: hashlib.sha256((root / name).read_bytes()).hexdigest()
                         for name in manifest["files"]}
    (root / "MANIFEST.json").write_text(json.dumps(manifest))
