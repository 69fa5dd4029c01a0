"""The text files of a deployment bundle, each built from what the store recorded."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as metadata
import json
import platform
from typing import Any

import numpy as np

from ..entities import Run

# Packages a notebook imports that a served model never needs.
NOTEBOOK_ONLY = {
    "jupyter-mlops", "ipython", "ipykernel", "ipywidgets", "jupyterlab", "notebook",
    "jupyter-client", "jupyter-core", "nbformat", "nbclient", "matplotlib", "plotly",
    "seaborn", "tqdm", "pytest",
}
# What the bundle's model loading and serve.py always need.
RUNTIME = ("numpy", "pandas", "scikit-learn", "skops", "starlette", "uvicorn")


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def requirements(run: Run) -> list[str]:
    """Pinned requirements: what the training code imported, plus the serving runtime."""
    packages = {k.lower(): v for k, v in run.environment.get("packages", {}).items()
                if k.lower() not in NOTEBOOK_ONLY}
    for name in RUNTIME:
        if name not in packages and (version := _installed(name)):
            packages[name] = version
    return [f"{name}=={version}" for name, version in sorted(packages.items())]


def python_env_yaml(python_version: str | None = None) -> str:
    """MLflow's python_env.yaml: the Python version and the pip requirements file."""
    pip = _installed("pip") or "23.0"
    return (f"python: {python_version or platform.python_version()}\n"
            f"build_dependencies:\n- pip=={pip}\n- setuptools\n- wheel\n"
            "dependencies:\n- -r requirements.txt\n")


def _kind(column: dict[str, Any], profile: dict[str, Any]) -> str:
    dtype = column["dtype"]
    if dtype == "bool":
        return "boolean"
    if dtype.startswith(("int", "uint", "Int", "UInt")):
        return "integer"
    if dtype.startswith(("float", "Float")):
        return "number"
    if dtype.startswith("datetime"):
        return "datetime"
    if dtype == "category" or profile.get("n_unique_sample", 10**9) <= 50:
        return "category"
    return "string"


def input_schema(schema: dict[str, Any], profile: dict[str, Any], model: Any) -> dict[str, Any]:
    """schema.json: columns in the model's order with dtype, kind, categories and ranges."""
    columns = []
    profiled = profile.get("columns", {})
    for column in schema["columns"]:
        info = profiled.get(column["name"], {})
        entry: dict[str, Any] = {"name": column["name"], "dtype": column["dtype"],
                                 "kind": _kind(column, info),
                                 "nullable": bool(info.get("nulls", 0))}
        if entry["kind"] == "category":
            entry["categories"] = column.get("categories") or sorted(info.get("top", {}))
        if info.get("min") is not None:
            entry["min"], entry["max"] = info["min"], info["max"]
        columns.append(entry)
    prediction: dict[str, Any] = {}
    classes = getattr(model, "classes_", None)
    if classes is not None:
        prediction["classes"] = np.asarray(classes).tolist()
    return {"columns": columns, "feature_names": hasattr(model, "feature_names_in_"),
            "prediction": prediction}


def input_example(schema: dict[str, Any], profile: dict[str, Any], rows: int = 3
                  ) -> dict[str, Any]:
    """A few valid rows, built from the training profile (no training data is kept)."""
    profiled = profile.get("columns", {})
    data: list[list[Any]] = [[] for _ in range(rows)]
    for column in schema["columns"]:
        info = profiled.get(column["name"], {})
        quantiles = info.get("quantiles") or []
        for i in range(rows):
            if column["kind"] in ("number", "integer") and quantiles:
                value: Any = quantiles[int((i + 1) * (len(quantiles) - 1) / (rows + 1))]
                if column["kind"] == "integer":
                    value = int(round(value))
            elif column["kind"] in ("number", "integer"):
                value = 0
            elif column["kind"] == "boolean":
                value = i % 2 == 0
            elif column.get("categories"):
                value = column["categories"][i % len(column["categories"])]
            else:
                value = next(iter(info.get("top", {})), "")
            data[i].append(value)
    return {"columns": [c["name"] for c in schema["columns"]], "data": data}


_MLFLOW_TYPES = {"number": "double", "integer": "long", "boolean": "boolean",
                 "category": "string", "string": "string", "datetime": "datetime"}


def mlmodel_yaml(*, run: Run, schema: dict[str, Any], model: Any, trusted: list[str],
                 created: float) -> str:
    """The MLmodel file: sklearn + python_function flavors, signature, input example."""
    import sklearn
    import yaml

    inputs = [{"type": _MLFLOW_TYPES[c["kind"]], "name": c["name"], "required": True}
              for c in schema["columns"]]
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
            "sklearn": {
                "code": None,
                "pickled_model": "model.skops",
                "serialization_format": "skops",
                "skops_trusted_types": trusted,
                "sklearn_version": sklearn.__version__,
            },
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


def model_card(run: Run, model: Any, schema: dict[str, Any], requirements: list[str],
               version: dict[str, Any] | None, events: list[dict[str, Any]]) -> str:
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
    lines += ["", "## Input schema", ""] + [
        f"- `{c['name']}` {c['kind']}" + (f" [{c['min']:.4g}, {c['max']:.4g}]"
                                          if "min" in c else "") for c in schema["columns"]]
    lines += ["", "## Code", "", "```python", run.source.rstrip(), "```", "",
              f"Replay with `python train.py` ({len(run.code_slice)} earlier cell(s) included).",
              "", "## Environment", "", f"Python {run.environment.get('python', '?')}; "
              f"git {run.git.get('commit') or 'none'}{' (dirty)' if run.git.get('dirty') else ''}",
              ""] + [f"- {r}" for r in requirements]
    if events:
        lines += ["", "## Audit", ""] + [
            f"- {dt.datetime.fromtimestamp(e['at']).strftime('%Y-%m-%d %H:%M')} {e['actor']} "
            f"{e['action']} {e['subject']}" + (f": {e['reason']}" if e.get("reason") else "")
            for e in events]
    return "\n".join(lines) + "\n"
