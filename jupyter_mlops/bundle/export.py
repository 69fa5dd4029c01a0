"""Write a deployment bundle: the DESIGN §4 layout, checked by a manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import BundleError, MLOpsError
from ..frameworks.models import input_features
from ..frameworks.registry import BY_NAME, FRAMEWORKS
from ..frameworks.serialize import SKOPS, load_model
from ..store import Store, open_store
from ..store.audit import head as audit_head
from ..store.registry import ModelVersion, get_version, is_model_ref, require_finished
from . import contents, kserve, notebook_code, trust
from .target import FORMAT, check_target, install, write_zip
from .trainscript import train_script

FORMAT_VERSION = 1
SERVE_SOURCE = Path(__file__).with_name("serve.py")
# The loader code a bundle carries for serve.py and MLflow (MLflow's code_paths convention).
FRAMEWORKS_DIR = Path(__file__).resolve().parents[1] / "frameworks"
CODE_FILES = {"code/mlops_trust.py": Path(__file__).with_name("trust.py"),
              "code/mlops_pyfunc.py": Path(__file__).with_name("pyfunc.py"),
              "code/mlops_frameworks.py": FRAMEWORKS_DIR / "registry.py",
              "code/mlops_boosting.py": FRAMEWORKS_DIR / "boosting.py",
              **{f"code/mlops_{f.NAME}.py": FRAMEWORKS_DIR / f"{f.NAME}.py" for f in FRAMEWORKS}}


def _resolve(store: Store, ref: ModelVersion | str) -> tuple[str, str | None, ModelVersion | None]:
    """(run id, model variable, registry version) for a version, model ref or run ref."""
    if isinstance(ref, ModelVersion):
        return ref.run_id, ref.model_variable, ref
    if is_model_ref(ref):
        version = get_version(store, ref)
        return version.run_id, version.model_variable, version
    return store.resolve_run_id(ref), None, None


def _training_data(store: Store, run: Any, model: Any, variable: str) -> dict[str, Any]:
    """The recorded dataset the model was fitted on: the ``fit`` input the capture observed
    for it, else the largest 2-D dataset the run read or built that has its features."""
    found_names, width = input_features(model)
    names = found_names or []
    best: dict[str, Any] | None = None
    candidates = [e for e in run.inputs if e.detail.get("fit_of") == variable]
    candidates += [e for e in [*run.inputs, *run.outputs] if e not in candidates]
    for entity in candidates:
        if entity.kind != "dataset" or not entity.fingerprint.startswith("data:"):
            continue
        dataset = store.get_dataset(entity.fingerprint)
        columns = [c["name"] for c in dataset["schema"]["columns"]]
        if len(dataset["shape"]) != 2 or (names and columns != names) or (
                width is not None and len(columns) != width):
            continue
        if entity.detail.get("fit_of") == variable:
            return dict(dataset)
        if best is None or dataset["shape"][0] > best["shape"][0]:
            best = dataset
    if best is None:
        features = f"{len(names) or width} features" if (names or width) else "features"
        raise BundleError(
            f"run {run.run_id} recorded no 2-D input dataset with the model's {features}, so "
            "the bundle cannot describe its input. Track the training cell with the training "
            "data as a variable it reads (e.g. X_train)."
        )
    return best


def _stored_model(store: Store, run: Any, variable: str
                  ) -> tuple[Any, bytes, str, notebook_code.NotebookCode | None]:
    """The run's model, its stored bytes as a bundle holds them, their format, and the
    notebook code it needs (functions it calls, a torch module's class), captured from the
    run's code slice and rebound so that the model loads without the notebook's kernel."""
    import skops.io as sio

    stored, fmt, stored_types = store.model_artifact(run.run_id, variable)
    local = notebook_code.notebook_functions(stored_types)
    rebind = getattr(BY_NAME.get(fmt), "rebind", None)  # a class that comes from the notebook
    if not local or not (fmt == SKOPS or rebind is not None):
        return load_model(stored, fmt, stored_types), stored, fmt, None
    code = notebook_code.capture(run, local, classes=rebind is not None)
    if rebind is not None:
        stored = rebind(stored, trust.CODE_MODULE)
    else:
        stored = notebook_code.rebind(stored, local)
        stored_types = sorted(sio.get_untrusted_types(data=stored))
    with notebook_code.importable(notebook_code.module(code)):
        return load_model(stored, fmt, stored_types), stored, fmt, code


def load_run_model(store: Store, run_id: str, variable: str | None = None) -> Any:
    """``store.load_model``, and where that needs the notebook's kernel (a torch module's
    class), the model as its bundle loads it: the class rebuilt from the run's code slice."""
    try:
        return store.load_model(run_id, variable)
    except MLOpsError:
        run = store.get_run(run_id)
        name = variable or next((e.name for e in run.outputs if e.kind == "model"), None)
        if name is None:
            raise
        return _stored_model(store, run, name)[0]


def _write(directory: Path, name: str, data: str | bytes) -> None:
    target = directory / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        target.write_text(data, encoding="utf-8")
    else:
        target.write_bytes(data)


def export_bundle(
    version_or_run: ModelVersion | str,
    path: str | os.PathLike[str],
    *,
    zip: bool = False,
    store: Store | None = None,
    trusted: list[str] | None = None,
    overwrite: bool = False,
    input_example: Any = None,
    target: str | None = None,
    storage_uri: str | None = None,
) -> Path:
    """Write the deployment bundle of a model version (or of a run's model) to ``path``.

    Parameters
    ----------
    version_or_run : a ModelVersion, ``"name@stage"``, ``"name/3"``, or a run id/name
    path : the bundle directory to create
    zip : also write ``path + ".zip"``
    trusted : exact type or function names the model may contain beyond the loader's
        allowlist (scikit-learn's estimators and the types they need); whoever loads the
        bundle must trust them too
    overwrite : replace a previous bundle at ``path`` (and ``path.zip``); never anything
        else (see :mod:`jupyter_mlops.bundle.target`)
    input_example : rows (a DataFrame) to ship as the input example; by default the example
        is synthesized from the schema and profile, so no training row leaves the store
    target : ``"kserve"`` adds ``model-settings.json`` (MLServer's MLflow runtime) and
        ``inferenceservice.yaml`` (a KServe InferenceService), see
        :mod:`jupyter_mlops.bundle.kserve`; None writes the plain bundle
    storage_uri : with ``target="kserve"``, where the bundle folder will be uploaded
        (``s3://…``, ``gs://…``, ``pvc://…``): the manifest's ``storageUri``; a placeholder
        when not given

    Returns the bundle directory (or the .zip file when ``zip=True``).
    """
    import skops.io as sio

    kserve.check_options(target, storage_uri)
    store = store or open_store(create=False)
    folder = Path(path)
    check_target(folder, overwrite=overwrite, zip=zip,
                 protected=[store.directory, Path.cwd(), Path.home()])
    run_id, variable, version = _resolve(store, version_or_run)
    require_finished(store, run_id)
    run = store.get_run(run_id)
    models = [e for e in run.outputs if e.kind == "model"]
    if not models:
        raise BundleError(f"run {run_id} ({run.name}) produced no model to bundle")
    variable = variable or models[0].name
    model, stored, fmt, code = _stored_model(store, run, variable)
    model_bytes = stored  # skops or a framework's native format already: reuse the bytes
    model_name = f"model{BY_NAME[fmt].SUFFIX}" if fmt in BY_NAME else "model.skops"
    if fmt != SKOPS and fmt not in BY_NAME:
        try:
            model_bytes = sio.dumps(model)
        except Exception as exc:
            raise BundleError(f"{type(model).__name__} cannot be written in the skops format "
                              f"({exc}), so it cannot be bundled: a bundle never holds a "
                              "pickle") from None
    try:  # a native file was checked by its framework's loader (load_model) already
        found = [] if fmt in BY_NAME else trust.audit(
            model_bytes, f"the model of run {run_id}", [
                *(trusted or ()), *(f"{trust.CODE_MODULE}.{f}" for f in (code.functions if code
                                                                           else []))])
    except trust.ModelRefused as exc:
        raise BundleError(str(exc)) from None
    dataset = _training_data(store, run, model, variable)
    schema = contents.input_schema(dataset["schema"], dataset["profile"], model)
    if input_example is None:
        example = contents.input_example(schema, dataset["profile"])
        example_source = "synthesized from the schema and the profile (medians, quantiles, " \
            "the model's first categories, placeholder text), not copied from training rows"
    else:
        example = contents.example_from_frame(input_example, schema)
        example_source = f"{len(example['data'])} row(s) chosen by the exporter " \
            "(input_example=)"
    requirements = contents.requirements(run, model)
    version_info = dataclasses.asdict(version) if version else None
    subject = version.name if version else None
    events = [dataclasses.asdict(e) for e in store.events(subject)] if subject else []
    upstream = [store.get_run(r) for r in store.upstream(run_id)]
    created = time.time()
    files: dict[str, str | bytes] = {
        "MLmodel": contents.mlmodel_yaml(run=run, schema=schema, model=model, trusted=found,
                                         created=created, model_file=model_name),
        model_name: model_bytes,
        "requirements.txt": "\n".join(requirements) + "\n",
        "python_env.yaml": contents.python_env_yaml(run.environment.get("python")),
        "input_example.json": json.dumps(example, indent=1),
        # The same rows as a request body: `curl -d @serving_input_example.json` (MLflow's name).
        "serving_input_example.json": json.dumps({"dataframe_split": example}, indent=1),
        "schema.json": json.dumps(schema, indent=1),
        "reference_profile.json": json.dumps(contents.bundle_profile(dataset["profile"],
                                                                     schema)),
        "model_card.md": contents.model_card(run, model, schema, requirements, version_info,
                                             events, example_source, model_name),
        "lineage.json": json.dumps(
            {**contents.lineage_document(run, upstream, version_info, events),
             # The store's audit chain head at export: `doctor --bundle` detects a log later
             # truncated or re-written before it.
             "audit_head": audit_head(store.conn).anchor()},
            indent=1, default=str),
        "train.py": train_script(run, variable),
        "serve.py": SERVE_SOURCE.read_text(encoding="utf-8"),
        **{name: source.read_text(encoding="utf-8") for name, source in CODE_FILES.items()},
    }
    if target == "kserve":
        files.update(kserve.files(version.name if version else run.name,
                                  version.version if version else None, storage_uri))
    if code is not None:
        files[trust.CODE_PATH] = code.source
        files["model_card.md"] = str(files["model_card.md"]) + notebook_code.card_section(code)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created_at": created,
        "model": {"class": type(model).__name__, "module": type(model).__module__,
                  "file": model_name,
                  "fingerprint": next(e.fingerprint for e in models if e.name == variable),
                  "run_id": run_id, "version": version.ref if version else None},
        # What the model holds beyond skops' defaults, for reading only: loaders never trust it.
        "model_types": found,
        "notebook_functions": code.functions if code else [],
        "files": {name: hashlib.sha256(data.encode() if isinstance(data, str) else data)
                  .hexdigest() for name, data in files.items()},
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=folder.parent))
    try:
        for name, data in files.items():
            _write(staging, name, data)
        _write(staging, "MANIFEST.json", json.dumps(manifest, indent=1))
        install(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if code is not None:  # lets this store's loaders run the code without --trust-code
        store.put_artifact(code.source.encode(), notebook_code.MEDIA_TYPE)
    return write_zip(folder) if zip else folder
