"""PyTorch: ``torch.nn.Module`` models as jupyter-mlops sees them.

A module is stored as safetensors, never pickled: its weights (``state_dict``) and, in the
file's metadata, its class (``module.Class``) and the arguments the notebook constructed it
with. Loading builds that class with those arguments, then requires the file's tensors to be
exactly the module's own (names, shapes, dtypes) before copying them in. The class must
already exist: in the notebook (``__main__``, when loading from the store in the kernel) or
in the bundle's ``code/notebook_functions.py``, which export writes from the run's code slice
and loaders run only when trusted. Nothing else is imported or run.

Standalone: imports only the standard library and numpy (torch and safetensors inside
functions), because bundles carry it as ``code/mlops_pytorch.py`` for their loader.
"""

from __future__ import annotations

import ast
import json
import re
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

NAME = "pytorch"  # the store's format name (MLflow's flavor name; see flavor())
DISTRIBUTION = "torch"  # what requirements.txt pins
DISTRIBUTIONS = ("torch", "safetensors")  # ... all of it: safetensors reads the weights
SUFFIX = ".safetensors"  # the bundle's native model file: model.safetensors
SKOPS_TYPES: tuple[str, ...] = ()  # never through skops
MODULE = "torch.nn.modules.module.Module"
FORMAT = "jupyter-mlops/pytorch/1"  # the metadata marker loaders require
CLASS_HOMES = ("__main__", "notebook_functions")  # where a module's class may come from
# PyTorch's own builds (torch==2.13.0+cpu, +cu121, +rocm6.2, +xpu) are on its wheel index, not
# on the package index: requirements.txt says where to find one it pins.
WHEEL_INDEX = "https://download.pytorch.org/whl/"
LABELLED = ("torch", "torchvision", "torchaudio")
BUILD_LABEL = re.compile(r"cpu|cu\d+|rocm\d+(\.\d+)*|xpu")
MAX_BYTES = 4 * 1024**3
MAX_HEADER_BYTES = 16 * 1024**2
MAX_INIT_CHARS = 10_000


def owns(obj: Any) -> bool:
    """Whether ``obj`` is a torch module (by its classes' names; torch is not imported)."""
    return not isinstance(obj, type) and any(
        f"{c.__module__}.{c.__qualname__}" == MODULE for c in type(obj).__mro__)


def is_native(obj: Any) -> bool:
    """A module with parameters (a model; loss functions and activations have none)."""
    if not owns(obj):
        return False
    try:
        return next(iter(obj.parameters()), None) is not None
    except Exception:
        return False


def wheel_index(distribution: str, version: str) -> str | None:
    """The index pip finds this PyTorch build on (``torch``, ``2.13.0+cpu`` → PyTorch's CPU
    wheel index), None for a version the package index has or no index does."""
    label = version.partition("+")[2]
    if distribution.lower() not in LABELLED or not BUILD_LABEL.fullmatch(label):
        return None
    return WHEEL_INDEX + label


# --- the constructor call, read from the notebook's code ------------------------------------
SAFE_BUILTINS = {"len": len, "int": int, "float": float, "round": round, "min": min,
                 "max": max, "abs": abs}
SAFE_NODES = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.Attribute, ast.Subscript,
              ast.Slice, ast.Tuple, ast.List, ast.BinOp, ast.UnaryOp, ast.operator,
              ast.unaryop, ast.Call, ast.keyword)
NEEDS_CELLS = True  # dump() reads the constructor call from the recorded cells


def _value(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """An argument's value: a literal, or a small expression over the notebook's variables
    (``X_train.shape[1]``, ``len(classes)``), checked to be plain JSON."""
    if not all(isinstance(n, SAFE_NODES) for n in ast.walk(node)) or any(
            isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name)
                                             and n.func.id in SAFE_BUILTINS)
            for n in ast.walk(node)):
        raise ValueError(f"`{ast.unparse(node)}` is not a literal or a simple expression")
    code = compile(ast.Expression(node), "<constructor argument>", "eval")
    value = eval(code, {"__builtins__": SAFE_BUILTINS}, namespace)  # noqa: S307 - the kernel's
    if isinstance(value, np.generic):
        value = value.item()
    json.dumps(value, allow_nan=False)  # plain values only
    return value


def _call(node: ast.Call, namespace: dict[str, Any]) -> dict[str, Any]:
    name = ast.unparse(node.func)
    if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords):
        raise ValueError(f"{name}(...) is called with *args or **kwargs")
    call = {"args": [_value(a, namespace) for a in node.args],
            "kwargs": {k.arg: _value(k.value, namespace) for k in node.keywords if k.arg}}
    if len(json.dumps(call)) > MAX_INIT_CHARS:
        raise ValueError(f"{name}(...)'s arguments are larger than {MAX_INIT_CHARS} characters")
    return call


def _shapes(model: Any) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def constructor(model: Any, cells: list[str], namespace: dict[str, Any]) -> dict[str, Any]:
    """The arguments the cells constructed ``model``'s class with: ``{"args": [...],
    "kwargs": {...}}``, from the latest call to the class whose module (built on torch's
    ``meta`` device: no memory, no computation) has the model's tensor shapes. ValueError
    when no cell constructs it plainly."""
    import torch

    cls = type(model)
    calls = []
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        calls += [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Name) and node.func.id == cls.__name__]
    if not calls:
        raise ValueError(f"no recorded cell constructs {cls.__name__}(...)")
    wanted, reasons = _shapes(model), []
    for node in reversed(calls):
        try:
            call = _call(node, namespace)
            with torch.device("meta"):
                built = cls(*call["args"], **call["kwargs"])
        except Exception as exc:  # not evaluable, or the class refuses these arguments
            reasons.append(str(exc))
            continue
        if _shapes(built) == wanted:
            return call
        reasons.append(f"`{ast.unparse(node)}` builds other tensor shapes")
    raise ValueError(f"no recorded call of {cls.__name__}(...) rebuilds this module: "
                     + "; ".join(reasons[:4]))


# --- storing and loading --------------------------------------------------------------------


def types(model: Any) -> list[str]:
    """The class a stored module needs (``__main__.MLP``): what export captures as code."""
    return [f"{type(model).__module__}.{type(model).__qualname__}"]


def content(model: Any) -> bytes:
    """What the module's fingerprint hashes: its class name and tensors (no pickle)."""
    import torch

    parts = [type(model).__qualname__.encode()]
    for key, tensor in model.state_dict().items():
        values = tensor.detach().cpu().contiguous().reshape(-1)
        parts += [key.encode(), str(values.dtype).encode(), str(tuple(tensor.shape)).encode(),
                  values.view(torch.uint8).numpy().tobytes()]
    return b"\0".join(parts)


def dump(model: Any, cells: list[str] | None = None,
         namespace: dict[str, Any] | None = None) -> bytes:
    """The module's weights as safetensors, its class and constructor call as metadata.
    ValueError when the class cannot be rebuilt (defined inside a function, constructed
    from values that are not plain)."""
    from safetensors.torch import save

    cls = type(model)
    if "<locals>" in cls.__qualname__ or cls.__module__ not in CLASS_HOMES:
        raise ValueError(f"{cls.__module__}.{cls.__qualname__} is not a class defined at the "
                         "top level of the notebook")
    call = constructor(model, cells or [], namespace or {})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return bytes(save(tensors, metadata={
        "format": FORMAT, "module": cls.__module__, "class": cls.__qualname__,
        "init": json.dumps(call), "training": json.dumps(bool(model.training))}))


def _header(data: bytes, label: str) -> dict[str, Any]:
    """The safetensors header (JSON), read without torch; ValueError if malformed."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"{label} is larger than {MAX_BYTES} bytes: refused")
    if len(data) < 8:
        raise ValueError(f"{label} is not a safetensors file: refused")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ValueError(f"{label} has an impossible safetensors header: refused")
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{label} is not a safetensors file: refused") from None
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__"), dict):
        raise ValueError(f"{label} is not a jupyter-mlops PyTorch model: refused")
    return header


def _metadata(header: dict[str, Any], label: str) -> tuple[str, str, dict[str, Any]]:
    meta = header["__metadata__"]
    if meta.get("format") != FORMAT:
        raise ValueError(f"{label} was not written by jupyter-mlops ({FORMAT}): refused")
    module, name = meta.get("module"), meta.get("class")
    try:
        call = json.loads(meta.get("init", ""))
    except json.JSONDecodeError:
        call = None
    if module not in CLASS_HOMES or not isinstance(name, str) or not name.isidentifier() or \
            not isinstance(call, dict) or not isinstance(call.get("args"), list) or \
            not isinstance(call.get("kwargs"), dict):
        raise ValueError(f"{label} names no loadable module class: refused")
    return module, name, call


def _namespace(module: str) -> Any:
    """The notebook (``__main__``: the IPython user module when there is one) or the
    bundle's notebook_functions module, as already imported; never an import."""
    if module == "__main__" and "IPython" in sys.modules:
        shell = sys.modules["IPython"].get_ipython()
        if shell is not None:
            return shell.user_module
    return sys.modules.get(module)


def rebind(data: bytes, module: str) -> bytes:
    """The same file with its class looked up in ``module`` (export: the bundle's code)."""
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    header["__metadata__"]["module"] = module
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + size:]


def load(data: bytes, label: str) -> Any:
    """The module, built from its class and constructor call and given the file's weights,
    which must be exactly its own; ValueError if refused."""
    import torch
    from safetensors.torch import load as load_tensors

    module, name, call = _metadata(_header(data, label), label)
    home = _namespace(module)
    cls = getattr(home, name, None) if home is not None else None
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        where = ("the notebook" if module == "__main__" else
                 "the bundle's code/notebook_functions.py")
        raise ValueError(f"{label} is a {name} module, a class {where} does not define here: "
                         "load it in the notebook's kernel, or from its bundle")
    try:
        model = cls(*call["args"], **call["kwargs"])
    except Exception as exc:
        raise ValueError(f"{label}: {name}(...) could not be built ({exc})") from None
    try:
        tensors = load_tensors(data)
    except Exception as exc:
        raise ValueError(f"{label} holds unreadable tensors ({exc}): refused") from None
    expected = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
    found = {k: (tuple(v.shape), v.dtype) for k, v in tensors.items()}
    if found != expected:
        raise ValueError(f"{label}'s tensors are not those of a {name}(...) module "
                         f"({sorted(set(found) ^ set(expected)) or 'shapes or dtypes differ'})"
                         ": refused")
    model.load_state_dict(tensors, strict=True)
    return model.eval()


@contextmanager
def serialized_once() -> Iterator[None]:
    """Nothing to cache: a module's state is its tensors."""
    yield


# --- what a tracked cell records ------------------------------------------------------------


def params(model: Any) -> dict[str, Any]:
    """The module's class and its number of (trainable) parameters."""
    count = sum(int(p.numel()) for p in model.parameters())
    trainable = sum(int(p.numel()) for p in model.parameters() if p.requires_grad)
    return {"module": type(model).__name__, "parameters": count,
            **({"trainable_parameters": trainable} if trainable != count else {})}


def training_params(model: Any, source: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """What the cell trained ``model`` with: the optimizer holding its parameters (class,
    learning rate, weight decay...) and the epochs of the cell's outer ``for ... in range()``
    loop."""
    found: dict[str, Any] = {}
    mine = {id(p) for p in model.parameters()}
    for value in list(namespace.values()):
        groups = getattr(value, "param_groups", None)
        if isinstance(groups, list) and groups and type(value).__module__.startswith(
                "torch.optim") and any(id(p) in mine for g in groups for p in g["params"]):
            found["optimizer"] = type(value).__name__
            for key in ("lr", "weight_decay", "momentum"):
                setting = groups[0].get(key)
                if isinstance(setting, (int, float)) and not isinstance(setting, bool):
                    found["learning_rate" if key == "lr" else key] = float(setting)
            break
    try:
        tree = ast.parse(source.split("\n", 1)[1] if source.startswith("%%") else source)
    except SyntaxError:
        return found
    for node in tree.body:
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Call) and isinstance(
                node.iter.func, ast.Name) and node.iter.func.id == "range":
            try:
                found["epochs"] = len(range(*(_value(a, namespace) for a in node.iter.args)))
            except (ValueError, TypeError, NameError):
                pass
            break
    return found


def curves(model: Any) -> dict[str, list[float]]:
    """None kept by torch: the cell logs its own (``mlops.log_metric(..., step=epoch)``)."""
    return {}


def best_iteration(model: Any) -> int | None:
    """torch keeps no early-stopping state."""
    return None


def _first_width(model: Any) -> int | None:
    for parameter in model.parameters():
        return int(parameter.shape[1]) if parameter.dim() == 2 else None
    return None


def features(model: Any) -> tuple[list[str] | None, int | None]:
    """No column names; the input width of the first layer when it is a matrix."""
    return None, _first_width(model)


class Scorer:
    """A module seen as an estimator (``--eval``, monitoring, serving): rows (numpy, pandas or
    a tensor) in as float32, evaluation mode and no gradients; a classifier when it outputs
    two or more columns (``predict`` is the argmax of the logits, ``predict_proba`` their
    softmax), else a regressor."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def _output(self, X: Any) -> np.ndarray:
        import torch

        values = X if isinstance(X, torch.Tensor) else torch.as_tensor(
            np.asarray(X, dtype=np.float32))
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                out = self.module(values.to(torch.float32))
        finally:
            self.module.train(was_training)
        return np.asarray(out.detach().cpu().numpy(), dtype=np.float64)

    @property
    def _estimator_type(self) -> str:
        return "classifier" if self._width() >= 2 else "regressor"

    def _width(self) -> int:
        last = None
        for parameter in self.module.parameters():
            last = parameter
        return int(last.shape[0]) if last is not None and last.dim() >= 1 else 1

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(self._width())

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self._output(X)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        out = self._output(X)
        if out.ndim == 2 and out.shape[1] >= 2:
            return np.argmax(out, axis=1)
        return out.reshape(len(out))


def scorer(model: Any) -> Any:
    """What ``--eval`` scores: the module as an estimator."""
    return Scorer(model)


def served(model: Any) -> Any:
    """What a bundle serves: the module as an estimator (``predict`` on rows)."""
    return Scorer(model)


def flavor(model: Any, data: str, trusted: list[str]) -> dict[str, Any] | None:
    """No MLflow ``pytorch`` flavor: MLflow loads that flavor with ``torch.load`` of a pickled
    module (``model.pth``) or of a ``torch.export`` archive whose weights are a torch pickle,
    never from safetensors; the bundle's ``python_function`` loader rebuilds the module."""
    return None
