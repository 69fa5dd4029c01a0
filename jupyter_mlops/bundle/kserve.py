"""What KServe needs beside the bundle to serve it: ``export_bundle(..., target="kserve")``.

A bundle is an MLflow model, so MLServer's MLflow runtime (``mlserver-mlflow``, which KServe
picks for ``modelFormat: mlflow`` with ``protocolVersion: v2``) loads it through
``mlflow.pyfunc`` and so through the bundle's own loader (manifest check, allowlist, schema).
Two files are added and listed in MANIFEST.json like every other:

- ``model-settings.json``: MLServer's model settings (the runtime, the model's name, ``uri: "."``
  — the folder holding this file, where KServe puts the downloaded ``storageUri``);
- ``inferenceservice.yaml``: the KServe ``InferenceService`` (``serving.kserve.io/v1beta1``)
  named like the model, with ``storageUri`` set to where the bundle folder is uploaded
  (``storage_uri``; a placeholder otherwise, to be replaced in a copy: the bundle itself is
  checked against its manifest when it is loaded).
"""

from __future__ import annotations

import json
import re

from ..errors import BundleError

TARGETS = ("kserve",)
SETTINGS_FILE = "model-settings.json"
SERVICE_FILE = "inferenceservice.yaml"
RUNTIME = "mlserver_mlflow.MLflowRuntime"
STORAGE_PLACEHOLDER = "s3://CHANGE-ME/bundle-folder"
# What KServe's storage initializer downloads a model folder from (https: also Azure Blob).
STORAGE_SCHEMES = ("s3", "gs", "https", "http", "pvc", "hdfs", "webhdfs", "oci")
MAX_URI = 1024
MAX_NAME = 45  # KServe prefixes and suffixes the name for its Services, within 63 characters


def check_options(target: str | None, storage_uri: str | None) -> None:
    """Raise :class:`BundleError` for a target other than ``None`` and :data:`TARGETS`, or a
    ``storage_uri`` without the KServe target or that KServe cannot download from."""
    if target is not None and target not in TARGETS:
        raise BundleError(f"unknown bundle target {target!r}: give one of "
                          f"{', '.join(TARGETS)}, or none for a plain bundle")
    if storage_uri is not None:
        if target != "kserve":
            raise BundleError("a storage URI is for a KServe bundle: give target=\"kserve\" "
                              "(--target kserve) too")
        check_storage_uri(storage_uri)


def check_storage_uri(uri: str) -> None:
    """Raise :class:`BundleError`, saying what form it takes, unless KServe's storage
    initializer can fetch a folder from ``uri``, or it carries a user or password (the
    manifest travels with the bundle; KServe takes credentials from a secret)."""
    if not isinstance(uri, str):
        raise BundleError(f"storage URI {uri!r:.40} is not one KServe can download the bundle "
                          "from: give SCHEME://LOCATION, e.g. s3://models/churn/3")
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if (len(uri) > MAX_URI or scheme not in STORAGE_SCHEMES or not uri.split("://", 1)[1]
            or any(c.isspace() or not c.isprintable() for c in uri)):
        raise BundleError(
            f"storage URI {uri[:80]!r} is not one KServe can download the bundle from: give "
            f"SCHEME://LOCATION without spaces (at most {MAX_URI} characters), SCHEME one of "
            f"{', '.join(STORAGE_SCHEMES)}, e.g. s3://models/churn/3")
    if "@" in uri.split("://", 1)[1].split("/", 1)[0]:
        raise BundleError(f"storage URI {scheme}://...: give it with no user or password "
                          "(it is written into the bundle's inferenceservice.yaml); KServe "
                          "reads credentials from a secret of the InferenceService's "
                          "service account")


def service_name(name: str) -> str:
    """``name`` as a Kubernetes resource name KServe accepts (lower case letters, digits and
    ``-``, starting with a letter): ``Churn_Model`` becomes ``churn-model``."""
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not label or not label[0].isalpha():
        label = f"model-{label}".rstrip("-")
    return label[:MAX_NAME].rstrip("-")


def model_settings(name: str, version: int | None) -> str:
    """MLServer's ``model-settings.json`` for the bundle at the folder that holds it."""
    parameters: dict[str, str] = {"uri": "."}
    if version is not None:
        parameters["version"] = str(version)
    return json.dumps({"name": name, "implementation": RUNTIME, "parameters": parameters},
                      indent=1) + "\n"


def inference_service(name: str, storage_uri: str | None) -> str:
    """The KServe ``InferenceService`` manifest serving the bundle over the V2 protocol."""
    import yaml

    document = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": {"model": {
            "modelFormat": {"name": "mlflow"},
            "protocolVersion": "v2",
            "storageUri": storage_uri or STORAGE_PLACEHOLDER,
        }}},
    }
    header = [
        "KServe InferenceService for this bundle: MLServer's MLflow runtime, V2 protocol,",
        f"scored at POST /v2/models/{name}/infer. The runtime's image needs requirements.txt.",
    ]
    if not storage_uri:
        header += [
            f"storageUri: replace {STORAGE_PLACEHOLDER} with where this folder is uploaded,",
            "in a copy (the bundle is checked against MANIFEST.json), or export with "
            "--storage-uri.",
        ]
    body = yaml.safe_dump(document, sort_keys=False)
    return "".join(f"# {line}\n" for line in header) + body


def files(model_name: str, version: int | None, storage_uri: str | None) -> dict[str, str]:
    """The files a KServe bundle adds, by name (``storage_uri`` checked by
    :func:`check_options`)."""
    name = service_name(model_name)
    return {SETTINGS_FILE: model_settings(name, version),
            SERVICE_FILE: inference_service(name, storage_uri)}
