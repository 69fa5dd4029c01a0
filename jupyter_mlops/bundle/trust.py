"""The loader's allowlist: the exact types and functions a loaded model may contain.

Trust lives in the loader, never in the file: a model is audited against this list (plus the
exact names the person loading it passes with ``--trust`` / ``trusted=``) before any object
is built, and a file, a bundle or its manifest can never widen it. The list names types, never
modules: every scikit-learn estimator, the internal objects their fitted state holds, the
few functions scikit-learn itself stores (numpy/scipy ufuncs are trusted by skops already),
and the exact types each framework of ``frameworks.registry`` names (the estimators and
Boosters of LightGBM, XGBoost and CatBoost), whose native state is checked before it is
parsed. A framework's native file (``model.lgb``, ``model.ubj``, ``model.cbm``) is loaded by
its own checked parser, never through pickle.

This module imports nothing from jupyter_mlops but the framework registry: bundles carry it as
``code/mlops_trust.py`` (and the registry as ``code/mlops_frameworks.py``) so that
``serve.py`` and the MLflow loader apply the same list without jupyter-mlops installed.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
import types
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

try:  # imported as jupyter_mlops.bundle.trust
    from ..frameworks import registry
except ImportError:  # the bundle's code/mlops_trust.py, beside code/mlops_frameworks.py
    import mlops_frameworks as registry  # type: ignore[import-not-found,no-redef]

# What the fitted state of scikit-learn's own estimators holds besides estimator classes.
SKLEARN_INTERNALS = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.HalfLogitLink", "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval", "sklearn._loss.link.LogitLink", "sklearn._loss.link.LogLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError", "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss", "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss", "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError", "sklearn._loss.loss.HalfTweedieLoss",
    "sklearn._loss.loss.HalfTweedieLossIdentity", "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.PinballLoss",
    "sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.multiclass._ConstantPredictor", "sklearn.utils._bunch.Bunch",
    "sklearn.metrics._scorer._Scorer", "sklearn.metrics._scorer._CurveScorer",
    "sklearn.utils._metadata_requests.MetadataRequest",
    "sklearn.utils._metadata_requests.MethodMetadataRequest",
    "scipy.interpolate._bsplines.BSpline",  # SplineTransformer's fitted splines
)
# Functions a model may hold (a FunctionTransformer's func, a functools.partial's target, a
# score or pooling function): pure array functions only. numpy and scipy ufuncs (np.log1p,
# np.expm1...) are trusted by skops itself; the public metrics of sklearn.metrics and the
# score functions of sklearn.feature_selection are added by name in allowlist().
# functools.partial is allowed because its target and arguments are audited like the rest.
FUNCTIONS = (
    "functools.partial",
    "sklearn.utils.validation.check_array",  # HistGradientBoosting's categorical preprocessing
    "sklearn.cluster._kmeans._kmeans_single_lloyd", "sklearn.cluster._kmeans._kmeans_single_elkan",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
    "numpy.mean", "numpy.median", "numpy.sum", "numpy.max", "numpy.min", "numpy.std",
    "numpy.var", "numpy.clip", "numpy.round", "numpy.nan_to_num",
)
VALUES = (
    "collections.OrderedDict",  # LightGBM's best scores
    "numpy.dtype",  # a dtype built from its description (SimpleImputer, KBinsDiscretizer)
    # sparse matrices (e.g. SparseRandomProjection's components_), index-checked on load
    "scipy.sparse._csr.csr_matrix", "scipy.sparse._csc.csc_matrix",
    "scipy.sparse._coo.coo_matrix", "scipy.sparse._csr.csr_array",
    "scipy.sparse._csc.csc_array", "scipy.sparse._coo.coo_array",
)
OPT_IN = ("If you have reviewed them and trust them, opt in by name: --trust TYPE (serve.py, "
          "jupyter-mlops serve/export/promote), trusted=[...] (load_bundle, export_bundle, "
          'promote) or model_config={"trust": [...]} (mlflow.pyfunc.load_model).')
MAX_MODEL_BYTES = 4 * 1024**3  # uncompressed size of a model file's members
# Functions defined in the notebook travel as this module (MLflow's code_paths convention).
CODE_MODULE = "notebook_functions"
CODE_PATH = f"code/{CODE_MODULE}.py"
CODE_OPT_IN = ("Loading it runs that code: read it, then opt in with --trust-code (serve.py, "
               "jupyter-mlops serve), trust_code=True (load_bundle) or "
               'model_config={"trust_code": True} (mlflow.pyfunc.load_model). A bundle '
               "exported from the store you load it with is trusted without it.")


def add_trust_option(parser: argparse.ArgumentParser) -> None:
    """``--trust TYPE`` (repeatable): one definition for every command that builds or loads a
    bundle (serve.py, the CLI's export/promote/retrain/watch/serve, %mlops promote/retrain)."""
    parser.add_argument("--trust", action="append", default=[], metavar="TYPE",
                        help="also allow this exact type or function name in the model "
                        "(repeatable), e.g. --trust mypackage.MyEstimator; a bundle's own "
                        "type lists are never used")


def add_trust_code_option(parser: argparse.ArgumentParser) -> None:
    """``--trust-code``: run the notebook functions a bundle carries (serve.py, serve)."""
    parser.add_argument("--trust-code", action="store_true",
                        help=f"run the bundle's {CODE_PATH} (functions defined in the "
                        "notebook that the model calls); read it first")


class ModelRefused(Exception):
    """A model file holds types the loader does not trust, or cannot be read safely."""


def _name(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__name__}"


@functools.cache
def allowlist() -> frozenset[str]:
    """Every type and function name a model may contain without being trusted explicitly."""
    import sklearn.feature_selection as selection
    import sklearn.gaussian_process.kernels as kernels
    import sklearn.metrics as metrics
    import sklearn.metrics._dist_metrics as distances
    from sklearn.utils import all_estimators

    names = {_name(cls) for _, cls in all_estimators() if cls.__module__.startswith("sklearn.")}
    names |= {_name(cls) for cls in vars(kernels).values()
              if isinstance(cls, type) and issubclass(cls, kernels.Kernel)}
    names |= {_name(cls) for cls in vars(distances).values() if isinstance(cls, type)
              and issubclass(cls, (distances.DistanceMetric64, distances.DistanceMetric32))}
    names |= {_name(func) for func in (getattr(metrics, n) for n in metrics.__all__)
              if inspect.isfunction(func)}
    names |= {_name(getattr(selection, n)) for n in (
        "chi2", "f_classif", "f_regression", "mutual_info_classif", "mutual_info_regression",
        "r_regression")}
    return frozenset(names | set(SKLEARN_INTERNALS) | set(FUNCTIONS) | set(VALUES)
                     | registry.skops_types())


def refused(types: Iterable[str], trusted: Iterable[str] = ()) -> list[str]:
    """The names in ``types`` that are neither on the allowlist nor in ``trusted``."""
    allowed = allowlist() | set(trusted)
    return sorted(set(types) - allowed)


def _untrusted_types(data: bytes, label: str) -> list[str]:
    """What skops would not load by itself (read from the file's schema, nothing built)."""
    import io

    import skops.io as sio

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            size = sum(member.file_size for member in archive.infolist())
        if size > MAX_MODEL_BYTES:
            raise ModelRefused(f"{label} unpacks to {size} bytes, more than the "
                               f"{MAX_MODEL_BYTES} a model may hold: refused")
        return sorted(sio.get_untrusted_types(data=data))
    except ModelRefused:
        raise
    except Exception as exc:  # a corrupt or crafted file: any parser error means "refuse"
        raise ModelRefused(f"{label} is not a readable skops model file "
                           f"({type(exc).__name__}: {exc})") from None


def audit(data: bytes, label: str, trusted: Iterable[str] = ()) -> list[str]:
    """The skops-untrusted types of a model file, after refusing any not on the allowlist.

    Raises
    ------
    ModelRefused
        the file is unreadable, too large, or holds a type or function that is neither on the
        allowlist nor in ``trusted``; nothing has been constructed.
    """
    present = _untrusted_types(data, label)
    foreign = refused(present, trusted)
    if foreign:
        raise ModelRefused(f"{label} contains types this loader does not trust: "
                           f"{', '.join(foreign)}. Loading them could run code. {OPT_IN}")
    _check_framework_states(data, present, label)
    return present


class Opaque:
    """An attribute of a skops object that is not plain JSON (an array, another object...)."""


def _state(node: Any, archive: zipfile.ZipFile) -> dict[str, Any] | None:
    """The attributes of a skops object node, read from its schema: plain JSON values, bytes
    (a ``bytes``/``bytearray`` attribute's file in the archive, e.g. XGBoost's UBJSON), and
    :class:`Opaque` for the others; None when its state is not a plain dict."""
    content = node.get("content") if isinstance(node, dict) else None
    if not isinstance(content, dict) or content.get("__loader__") != "DictNode" or \
            not isinstance(content.get("content"), dict):
        return None

    def value(item: Any) -> Any:
        loader = item.get("__loader__") if isinstance(item, dict) else None
        if loader == "JsonNode" and isinstance(item.get("content"), str):
            return json.loads(item["content"])
        if loader in ("BytesNode", "BytearrayNode") and isinstance(item.get("file"), str):
            try:
                return archive.read(item["file"])
            except KeyError:
                return Opaque()
        return Opaque()

    return {key: value(item) for key, item in content["content"].items()}


def _check_framework_states(data: bytes, present: list[str], label: str) -> None:
    """Let each framework check the native state (LightGBM's model text, XGBoost's UBJSON,
    CatBoost's .cbm) that a skops file holds for its types, before skops builds anything."""
    import io

    owners = {name: framework for framework in registry.FRAMEWORKS
              for name in framework.SKOPS_TYPES if name in present}
    if not owners:
        return
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pending: list[Any] = [json.loads(archive.read("schema.json"))]
        while pending:
            node = pending.pop()
            if isinstance(node, list):
                pending.extend(node)
            elif isinstance(node, dict):
                name = f"{node.get('__module__')}.{node.get('__class__')}"
                framework = owners.get(name)
                if framework is not None:
                    state = _state(node, archive)
                    if state is None:
                        raise ModelRefused(f"{label} holds a {name} whose state is not a "
                                           "plain dict: refused")
                    try:
                        framework.check_state(state, label)
                    except ValueError as exc:
                        raise ModelRefused(str(exc)) from None
                pending.extend(node.values())


def load(data: bytes, label: str, trusted: Iterable[str] = ()) -> Any:
    """A model from skops bytes: audited first, built only from allowed types, then checked.

    Parameters
    ----------
    data : the skops file's bytes
    label : how to name the file in messages (e.g. its path)
    trusted : exact type or function names to allow beyond the allowlist
    """
    import skops.io as sio

    present = audit(data, label, trusted)
    try:
        model = sio.loads(data, trusted=present)
    except Exception as exc:
        raise ModelRefused(f"{label} could not be loaded ({type(exc).__name__}: {exc})"
                           ) from None
    check_structure(model, label)
    return model


MODEL_FILES = ("model.skops", *(f"model{f.SUFFIX}" for f in registry.FRAMEWORKS))


def model_file(listed: Iterable[str]) -> str:
    """The one model file among a bundle's ``listed`` files (``model.skops``, or a
    framework's native ``model.lgb``...)."""
    names = set(listed)
    found = [name for name in MODEL_FILES if name in names]
    if len(found) != 1:
        raise ModelRefused(f"a bundle holds exactly one model file of {', '.join(MODEL_FILES)}; "
                           f"this one lists {', '.join(found) or 'none'}")
    return found[0]


def load_file(path: Path, trusted: Iterable[str] = ()) -> Any:
    """:func:`load` for a file on disk; a framework's native file (by its suffix) is loaded by
    that framework's checked parser."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelRefused(f"{path} cannot be read ({exc.strerror or exc})") from None
    native = next((f for f in registry.FRAMEWORKS if path.suffix == f.SUFFIX), None)
    if native is None:
        return load(data, str(path), trusted)
    try:
        return registry.served(native.load(data, str(path)))
    except ImportError as exc:
        raise ModelRefused(f"{path} needs {native.DISTRIBUTION} ({exc}): install the bundle's "
                           "requirements.txt") from None
    except ValueError as exc:
        raise ModelRefused(str(exc)) from None


def load_code(root: Path, allowed: bool) -> list[str]:
    """Import the bundle's notebook functions when ``allowed``; their names, to be trusted.

    Raises
    ------
    ModelRefused
        the bundle carries notebook code and the loader was not told to run it.
    """
    path = root / CODE_PATH
    if not path.is_file():
        return []
    source = path.read_text(encoding="utf-8")
    if not allowed:
        functions = re.findall(r"^def (\w+)", source, flags=re.MULTILINE)
        raise ModelRefused(f"the model calls functions defined in its notebook "
                           f"({', '.join(functions)}), shipped as {path}. {CODE_OPT_IN}")
    module = types.ModuleType(CODE_MODULE)
    module.__file__ = str(path)
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - opted in
    except Exception as exc:
        raise ModelRefused(f"{path} failed to run ({type(exc).__name__}: {exc})") from None
    sys.modules[CODE_MODULE] = module  # what the model's references resolve to
    return [f"{CODE_MODULE}.{name}" for name, value in vars(module).items()
            if inspect.isfunction(value) and value.__module__ == CODE_MODULE]


# --- structural checks ----------------------------------------------------------------------
# Trees store raw node indices that scikit-learn's compiled predict follows without bounds
# checks (skops leaves these types untrusted for that reason). We allow them and check every
# index after loading, before anything runs: children point forward and inside the node array,
# split features exist, so a crafted file is refused instead of reading out of bounds.


def _check_links(label: str, left: Any, right: Any, feature: Any, leaf: Any,
                 n_features: int) -> None:
    count = len(left)
    inner = ~leaf
    index = np.arange(count)
    ok = bool(((left[inner] > index[inner]) & (left[inner] < count)).all()
              and ((right[inner] > index[inner]) & (right[inner] < count)).all()
              and ((feature[inner] >= 0) & (feature[inner] < n_features)).all())
    if not ok:
        raise ModelRefused(f"{label} holds a tree whose node links or split features are out "
                           "of range: the file is corrupt or crafted; refused")


def _check_tree(label: str, tree: Any, n_features: int | None) -> None:
    if n_features is not None and tree.n_features != n_features:
        raise ModelRefused(f"{label} holds a tree for {tree.n_features} features inside an "
                           f"estimator of {n_features}: refused")
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    leaf = left == -1
    if not bool((right[leaf] == -1).all()) or len(left) != tree.node_count:
        raise ModelRefused(f"{label} holds a tree with inconsistent leaves: refused")
    _check_links(label, left, right, np.asarray(tree.feature), leaf, tree.n_features)


def _check_predictor(label: str, predictor: Any, n_features: int) -> None:
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    _check_links(label, nodes["left"].astype(np.int64), nodes["right"].astype(np.int64),
                 nodes["feature_idx"].astype(np.int64), leaf, n_features)
    categorical = (~leaf) & nodes["is_categorical"].astype(bool)
    bitsets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
    if bool((nodes["bitset_idx"][categorical] >= bitsets).any()):
        raise ModelRefused(f"{label} holds a gradient-boosting tree whose categorical splits "
                           "point outside its bitsets: refused")


def _check_space_tree(label: str, tree: Any) -> None:
    """KDTree/BallTree: sample indices inside the data, children of inner nodes exist."""
    data, order, nodes = tree.get_arrays()[:3]
    count = len(nodes)
    inner = np.flatnonzero(nodes["is_leaf"] == 0)
    ok = bool(((order >= 0) & (order < len(data))).all()
              and ((nodes["idx_start"] >= 0) & (nodes["idx_start"] <= nodes["idx_end"])
                   & (nodes["idx_end"] <= len(order))).all()
              and (2 * inner + 2 < count).all())
    if not ok:
        raise ModelRefused(f"{label} holds a neighbors tree whose indices are out of range: "
                           "the file is corrupt or crafted; refused")


def _check_sparse(label: str, matrix: Any) -> None:
    """Compressed or coordinate sparse matrices: every index inside the shape."""
    try:
        if matrix.format in ("csr", "csc"):
            matrix.check_format(full_check=True)
        elif matrix.format == "coo":
            for axis, index in enumerate(matrix.coords):
                if index.size and not (0 <= index.min() and index.max() < matrix.shape[axis]):
                    raise ValueError("coordinates out of range")
        else:
            raise ValueError(f"unexpected format {matrix.format}")
    except ValueError as exc:
        raise ModelRefused(f"{label} holds a sparse matrix with invalid indices ({exc}): "
                           "refused") from None


def _children(obj: Any) -> Iterable[Any]:
    if isinstance(obj, (list, tuple, set, frozenset)):
        return obj
    if isinstance(obj, dict):
        return obj.values()
    if isinstance(obj, np.ndarray):
        return obj.ravel().tolist() if obj.dtype == object else ()
    if isinstance(obj, (type, types.ModuleType, types.FunctionType)):
        return ()  # code, not fitted state
    state = getattr(obj, "__dict__", None)
    return state.values() if isinstance(state, dict) else ()


def check_structure(model: Any, label: str = "the model") -> None:
    """Refuse a loaded model whose trees hold out-of-range indices (see above)."""
    from scipy.sparse import issparse
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.neighbors import BallTree, KDTree
    from sklearn.tree._tree import Tree

    seen: set[int] = set()
    pending = [model]
    while pending:
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        width = getattr(obj, "n_features_in_", None) if hasattr(obj, "__dict__") else None
        tree = vars(obj).get("tree_") if hasattr(obj, "__dict__") else None
        if isinstance(tree, Tree):
            _check_tree(label, tree, width)
        elif isinstance(obj, Tree):
            _check_tree(label, obj, None)
        elif isinstance(obj, (KDTree, BallTree)):
            _check_space_tree(label, obj)
        elif issparse(obj):
            _check_sparse(label, obj)
        predictors = vars(obj).get("_predictors") if hasattr(obj, "__dict__") else None
        if predictors is not None:
            for predictor in (p for group in predictors for p in group):
                if not isinstance(predictor, TreePredictor) or width is None:
                    raise ModelRefused(f"{label} holds a gradient-boosting model with "
                                       "unexpected predictors: refused")
                _check_predictor(label, predictor, int(width))
        pending.extend(_children(obj))
