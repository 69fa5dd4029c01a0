"""The text files of a deployment bundle, each built from what the store recorded."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as metadata
import json
import platform
from typing import Any

import numpy as np
import pandas as pd

from ..data.profile import as_frame
from ..entities import Run
from ..errors import BundleError
from ..frameworks import pytorch
from ..frameworks.models import input_features
from ..frameworks.registry import framework_of
from .features import Need, column_needs
from .serve import RequestError, frame_from_payload, validate

# Packages a notebook imports that a served model never needs.
NOTEBOOK_ONLY = {
    "jupyter-mlops", "ipython", "ipykernel", "ipywidgets", "jupyterlab", "notebook",
    "jupyter-client", "jupyter-core", "nbformat", "nbclient", "matplotlib", "plotly",
    "seaborn", "tqdm", "pytest",
}
# A text value seen fewer times in the training data stays out of a bundle's profile.
MIN_SHARED_COUNT = 5
# What the bundle's model loading and serve.py always need.
RUNTIME = ("numpy", "pandas", "scikit-learn", "skops", "starlette", "uvicorn")


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def requirements(run: Run, model: Any = None) -> list[str]:
    """Pinned requirements: what the training code imported, plus the serving runtime and
    the model's framework (LightGBM...); first, a comment saying where pip finds each PyTorch
    build pinned (``torch==2.13.0+cpu`` is not on the package index). A comment, not an
    ``--extra-index-url`` line: pip asks every index for every package, so an unreachable one
    (offline, behind a mirror) costs seconds of retries per package."""
    packages = {k.lower(): v for k, v in run.environment.get("packages", {}).items()
                if k.lower() not in NOTEBOOK_ONLY}
    framework = framework_of(model)
    own = getattr(framework, "DISTRIBUTIONS", None) or (
        (framework.DISTRIBUTION,) if framework is not None else ())
    for name in (*RUNTIME, *own):
        if name not in packages and (version := _installed(name)):
            packages[name] = version
    pins = [f"{name}=={version}" for name, version in sorted(packages.items())]
    notes = [f"# {name}=={version} is a PyTorch build the package index does not have: "
             f"pip install -r requirements.txt --extra-index-url {index}"
             for name, version in sorted(packages.items())
             if (index := pytorch.wheel_index(name, version))]
    return notes + pins


def python_env_yaml(python_version: str | None = None) -> str:
    """MLflow's python_env.yaml: the Python version and the pip requirements file."""
    pip = _installed("pip") or "23.0"
    return (f"python: {python_version or platform.python_version()}\n"
            f"build_dependencies:\n- pip=={pip}\n- setuptools\n- wheel\n"
            "dependencies:\n- -r requirements.txt\n")


def _kind(dtype: str, need: Need | None) -> str:
    """The schema kind of a column: its dtype, and for text what the model does with it."""
    if dtype in ("bool", "boolean"):
        return "boolean"
    if dtype.startswith(("int", "uint", "Int", "UInt")):
        return "integer"
    if dtype.startswith(("float", "Float")):
        return "number"
    if dtype.startswith("datetime"):
        return "datetime"
    if need is not None and (not need.used or need.text):
        return "string"
    if dtype == "category" or (need is not None and need.categories is not None):
        return "category"
    return "string"


def input_schema(schema: dict[str, Any], profile: dict[str, Any], model: Any) -> dict[str, Any]:
    """schema.json: columns in the model's order with dtype, kind, categories and ranges.

    Categories are those the model knows (its fitted encoders, else the pandas category
    dtype it was fitted on), never the profile's most frequent values; ``unknown`` says
    whether unseen ones are refused (``"error"``) or handled by the model (``"accepted"``).
    Columns the model drops or reads as free text are open ``string`` columns.
    """
    columns = []
    profiled = profile.get("columns", {})
    needs = column_needs(model, [c["name"] for c in schema["columns"]])
    for column in schema["columns"]:
        info = profiled.get(column["name"], {})
        need = needs.get(column["name"])
        entry: dict[str, Any] = {"name": column["name"], "dtype": column["dtype"],
                                 "kind": _kind(column["dtype"], need),
                                 "nullable": bool(info.get("nulls", 0))}
        if need is not None and not need.used:
            entry["used"], entry["nullable"] = False, True
        if column.get("missing"):
            entry["missing"] = column["missing"]
        if entry["kind"] == "category":
            dtype_categories = column.get("categories") if column["dtype"] == "category" else None
            known = need.categories if need is not None and need.categories is not None \
                else dtype_categories
            entry["categories"] = known or []
            entry["unknown"] = "accepted" if need is not None and need.unknown_ok and \
                need.categories is not None else "error"
            if dtype_categories is not None and dtype_categories != entry["categories"]:
                entry["dtype_categories"] = dtype_categories
            if column.get("ordered"):
                entry["ordered"] = True
        if info.get("min") is not None and entry["kind"] in ("number", "integer"):
            entry["min"], entry["max"] = info["min"], info["max"]
        columns.append(entry)
    prediction: dict[str, Any] = {}
    classes = getattr(model, "classes_", None)
    if classes is not None:
        prediction["classes"] = np.asarray(classes).tolist()
    return {"columns": columns, "feature_names": input_features(model)[0] is not None,
            "prediction": prediction}


def input_example(schema: dict[str, Any], profile: dict[str, Any], rows: int = 3
                  ) -> dict[str, Any]:
    """A few valid rows synthesized from the schema and the profile's aggregates: medians
    (and other quantiles) of numbers and dates, the model's first categories, placeholder
    text. No row, and no text value, of the training data is copied."""
    profiled = profile.get("columns", {})
    data: list[list[Any]] = [[] for _ in range(rows)]
    for column in schema["columns"]:
        quantiles = profiled.get(column["name"], {}).get("quantiles") or []
        for i in range(rows):
            data[i].append(_example_value(column, quantiles, i, rows))
    return {"columns": [c["name"] for c in schema["columns"]], "data": data}


def _example_value(column: dict[str, Any], quantiles: list[float], i: int, rows: int) -> Any:
    kind = column["kind"]
    value: Any = quantiles[int((i + 1) * (len(quantiles) - 1) / (rows + 1))] \
        if quantiles else 0
    if kind == "number":
        return round(float(value), 6)
    if kind == "integer":
        return int(round(value))
    if kind == "datetime":  # the profile counts nanoseconds since the epoch
        return pd.Timestamp(int(value)).floor("D").isoformat() if quantiles else \
            "2000-01-01T00:00:00"
    if kind == "boolean":
        return i % 2 == 0
    categories = column.get("categories")
    if kind == "category" and categories:
        return categories[i % len(categories)]
    return f"example text {i + 1}"


def bundle_profile(profile: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """reference_profile.json: the training profile without values that could single out a
    training row. Numeric entries are aggregates already (counts, quantiles, histograms);
    of a text column's value counts, only the categories the model knows and values seen at
    least ``MIN_SHARED_COUNT`` times stay listed, the others are counted in ``other`` (drift
    still compares their total share)."""
    known = {c["name"]: set(c.get("categories") or []) for c in schema["columns"]}
    columns = {}
    for name, entry in profile.get("columns", {}).items():
        top = entry.get("top")
        if top:
            keep = {k: v for k, v in top.items()
                    if v >= MIN_SHARED_COUNT or k in known.get(name, ())}
            entry = {**entry, "top": keep,
                     "other": int(entry.get("other", 0)) + sum(top.values()) - sum(keep.values()),
                     "withheld_values": len(top) - len(keep)}
        columns[name] = entry
    return {**profile, "columns": columns}


def example_from_frame(frame: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """The input example a user chose (``input_example=``), checked against the schema."""
    frame = as_frame(frame)
    names = [c["name"] for c in schema["columns"]]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise BundleError(f"input_example lacks the model's column(s) {', '.join(missing)}")
    split = json.loads(frame[names].to_json(orient="split", index=False, date_format="iso",
                                            date_unit="us"))
    try:
        validate(frame_from_payload({"dataframe_split": split}, names), schema)
    except RequestError as exc:
        raise BundleError(f"input_example does not fit the model's schema: {exc}") from None
    return {"columns": names, "data": split["data"]}


_MLFLOW_TYPES = {"number": "double", "integer": "long", "boolean": "boolean",
                 "category": "string", "string": "string", "datetime": "datetime"}


def _mlflow_type(column: dict[str, Any]) -> str:
    """The MLflow signature type of a schema column, as ``infer_signature`` gives for the
    training frame; ``any`` for pandas dtypes that MLflow's schema enforcement refuses under
    every type (category; nullable Int, Float and boolean: "Can not safely convert category
    to <U0", "cannot convert NA to integer"): the bundle's own loader (serve.py) checks those
    against schema.json and restores the dtype the model was fitted on."""
    dtype = column["dtype"]
    if dtype in ("category", "boolean") or dtype.startswith(("Int", "UInt", "Float")):
        return "any"
    return _MLFLOW_TYPES[column["kind"]] if column.get("used", True) else "any"


def signature_inputs(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The MLmodel signature's inputs: one column spec per schema column, optional where
    the training data had missing values (or the model drops the column)."""
    return [{"type": _mlflow_type(c), "name": c["name"],
             "required": not c["nullable"] and c.get("used", True)} for c in schema["columns"]]


def mlmodel_yaml(*, run: Run, schema: dict[str, Any], model: Any, trusted: list[str],
                 created: float, model_file: str = "model.skops") -> str:
    """The MLmodel file: python_function, sklearn (for a skops model file) and the model's
    framework flavor (``lightgbm``...), signature, input example.

    MLflow's pyfunc loads the bundle through serve.py (the bundle directory is its code
    path), so a frame gets the same checks and dtypes as a request to the bundle's server.
    """
    import sklearn
    import yaml

    flavors: dict[str, Any] = {}
    if model_file == "model.skops":
        flavors["sklearn"] = {"code": None, "pickled_model": model_file,
                              "serialization_format": "skops", "skops_trusted_types": trusted,
                              "sklearn_version": sklearn.__version__}
    framework = framework_of(model)
    if framework is not None and framework.owns(model):  # not a Pipeline ending in one
        entry = framework.flavor(model, model_file, trusted)
        if entry is not None:  # None: MLflow's flavor would need a pickle (PyTorch)
            flavors[framework.NAME] = entry
    inputs = signature_inputs(schema)
    classes = schema["prediction"].get("classes")
    output_type = "double"
    if classes:
        output_type = "string" if isinstance(classes[0], str) else "long"
    document = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {  # our loader (code/mlops_pyfunc.py): the allowlist decides
                "code": "code",
                "env": {"virtualenv": "python_env.yaml"},
                "loader_module": "mlops_pyfunc",
                # Only so that MLflow passes the loader's overrides through; a bundle whose
                # MLmodel widens these defaults is refused by mlops_pyfunc.
                "config": {"trust": [], "trust_code": False},
                "python_version": platform.python_version(),
            },
            **flavors,
        },
        "model_uuid": run.run_id.lower(),
        "run_id": run.run_id,
        "saved_input_example_info": {"artifact_path": "input_example.json",
                                     "serving_input_path": "serving_input_example.json",
                                     "type": "dataframe", "pandas_orient": "split"},
        "signature": {"inputs": json.dumps(inputs),
                      "outputs": json.dumps([{"type": output_type, "required": True}]),
                      "params": None},
        "utc_time_created": dt.datetime.fromtimestamp(created, dt.timezone.utc)
        .strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    return yaml.safe_dump(document, sort_keys=False)


def lineage_document(run: Run, upstream: list[Run], version: dict[str, Any] | None,
                     events: list[dict[str, Any]]) -> dict[str, Any]:
    """lineage.json: the run, its data and code, what came before it, and its promotion."""

    def entities(items: list[Any]) -> list[dict[str, Any]]:
        return [{"kind": e.kind, "name": e.name, "fingerprint": e.fingerprint,
                 "detail": e.detail} for e in items]

    return {
        "run": {"run_id": run.run_id, "name": run.name, "experiment": run.experiment,
                "status": run.status, "started_at": run.started_at,
                "duration_s": run.duration_s, "notebook": run.notebook, "cell_id": run.cell_id,
                "execution_count": run.execution_count, "user": run.user, "host": run.host,
                "git": run.git, "source": run.source},
        "params": run.params, "metrics": run.metrics,
        "inputs": entities(run.inputs), "outputs": entities(run.outputs),
        "code_slice": [c.__dict__ for c in run.code_slice],
        "environment": run.environment,
        "upstream": [{"run_id": r.run_id, "name": r.name, "outputs": entities(r.outputs)}
                     for r in upstream],
        "model_version": version, "audit": events,
    }


def data_statement(schema: dict[str, Any], example_source: str,
                   model_file: str = "model.skops") -> list[str]:
    """The model card's account of the training data a bundle carries (no rows)."""
    closed = [c for c in schema["columns"] if c.get("categories")]
    count = sum(len(c["categories"]) for c in closed)
    return [
        "No training rows. `schema.json` lists column names, dtypes, numeric ranges and "
        f"{count} categor{'y' if count == 1 else 'ies'} of {len(closed)} column(s) that the "
        "model's fitted encoders know (they are part of the model).",
        "`reference_profile.json` holds aggregates for drift checks: counts, missing values, "
        "quantiles, histograms, a numeric column's distinct values when it has at most 200, "
        f"and frequencies of text values seen at least {MIN_SHARED_COUNT} times (rarer ones "
        "are counted together, never listed).",
        f"`input_example.json`: {example_source}.",
        f"`{model_file}` holds the model's learned state (coefficients, trees, encoder "
        "categories; some models, such as nearest neighbours, keep training rows by design).",
    ]


def model_card(run: Run, model: Any, schema: dict[str, Any], requirements: list[str],
               version: dict[str, Any] | None, events: list[dict[str, Any]],
               example_source: str = "synthesized from the schema and the profile",
               model_file: str = "model.skops") -> str:
    """model_card.md: what the model is, how it was made and judged, who promoted it and why."""
    title = f"{version['name']} v{version['version']}" if version else run.name
    lines = [f"# {title}", "", f"`{type(model).__name__}` from run `{run.run_id}` "
             f"(**{run.name}**, experiment *{run.experiment}*), trained "
             f"{dt.datetime.fromtimestamp(run.started_at).strftime('%Y-%m-%d %H:%M')} "
             f"by {run.user or 'unknown'}.", ""]
    if version:
        lines += [f"Stage: **{version.get('stage') or 'none'}**; aliases: "
                  f"{', '.join(version.get('aliases') or []) or 'none'}.", ""]
    lines += ["## Metrics", ""] + [f"- {k}: {v:.6g}" for k, v in sorted(run.metrics.items())]
    lines += ["", "## Parameters", ""] + [f"- {k}: {v}" for k, v in sorted(run.params.items())]
    lines += ["", "## Data", ""] + [
        f"- {e.kind} `{e.name}` {e.fingerprint} {e.detail.get('shape', '')}" for e in run.inputs]
    lines += ["", "## What of the training data this bundle holds", ""] + data_statement(
        schema, example_source, model_file)
    lines += ["", "## Input schema", ""] + [
        f"- `{c['name']}` {c['kind']}" + (f" [{c['min']:.4g}, {c['max']:.4g}]"
                                          if "min" in c else "") for c in schema["columns"]]
    lines += ["", "## Code", "", "```python", run.source.rstrip(), "```", "",
              f"Replay with `python train.py` ({len(run.code_slice)} earlier cell(s) included).",
              "", "## Environment", "", f"Python {run.environment.get('python', '?')}; "
              f"git {run.git.get('commit') or 'none'}{' (dirty)' if run.git.get('dirty') else ''}",
              ""] + [f"- {r}" for r in requirements if not r.startswith("#")]
    if events:
        lines += ["", "## Audit", ""] + [
            f"- {dt.datetime.fromtimestamp(e['at']).strftime('%Y-%m-%d %H:%M')} {e['actor']} "
            f"{e['action']} {e['subject']}" + (f": {e['reason']}" if e.get("reason") else "")
            for e in events]
    return "\n".join(lines) + "\n"
