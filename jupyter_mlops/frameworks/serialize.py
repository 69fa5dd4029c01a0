"""Serialize fitted models safely: a framework's native format for its native models (a
LightGBM Booster's model text), skops by default, pickle only when neither can.

A model is stored in the skops format with the list of types it contains, so that loading
it back from our own store trusts exactly the types that were there when it was saved, and
nothing else. Objects skops cannot represent fall back to pickle, and say so in ``format``.
The store is the user's own file, trusted like their notebooks (see SECURITY.md); bundles,
which travel, are loaded through ``bundle.trust``'s allowlist instead.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import xxhash

from ..errors import MLOpsError
from .registry import BY_NAME, native_framework

SKOPS = "skops"
PICKLE = "pickle"


def fingerprint_model(model: Any) -> str:
    """A content hash of the model's state (equal for equal fitted models)."""
    framework = native_framework(model)
    content = getattr(framework, "content", None)
    data = content(model) if content is not None else pickle.dumps(model, protocol=5)
    return "model:" + xxhash.xxh3_128_hexdigest(data)


def dump_model(model: Any, cells: list[str] | None = None,
               namespace: dict[str, Any] | None = None) -> tuple[bytes, str, list[str]]:
    """Serialize ``model``; returns ``(bytes, format, trusted_types)``, the format being
    ``"skops"``, ``"pickle"`` or a framework's name (its native format). A framework that
    rebuilds the model from the notebook (PyTorch: the constructor call) reads the recorded
    ``cells`` and the kernel's ``namespace``, and raises ValueError when it cannot (then
    :func:`dump_pickle` keeps the model for the store only).
    """
    import skops.io as sio

    framework = native_framework(model)
    if framework is not None:
        if getattr(framework, "NEEDS_CELLS", False):
            return (framework.dump(model, cells or [], namespace or {}), framework.NAME,
                    framework.types(model))
        return framework.dump(model), framework.NAME, []

    try:
        data = sio.dumps(model)
        trusted = sorted(sio.get_untrusted_types(data=data))
        return data, SKOPS, trusted
    except Exception:  # skops cannot represent some objects: keep them, honestly labelled
        return dump_pickle(model)


def dump_pickle(model: Any) -> tuple[bytes, str, list[str]]:
    """``model`` as a pickle: the store's last resort, never bundled."""
    buffer = io.BytesIO()
    pickle.dump(model, buffer, protocol=5)
    return buffer.getvalue(), PICKLE, []


def load_model(data: bytes, fmt: str, trusted_types: list[str]) -> Any:
    """Rebuild a model written by :func:`dump_model`, trusting only the recorded types."""
    if fmt == SKOPS:
        import skops.io as sio

        return sio.loads(data, trusted=trusted_types)
    if fmt in BY_NAME:
        try:
            return BY_NAME[fmt].load(data, "the stored model")
        except ValueError as exc:  # refused, or (PyTorch) its class is not defined here
            raise MLOpsError(str(exc)) from None
    if fmt == PICKLE:
        return pickle.loads(data)  # noqa: S301 - written by this store for this user
    raise ValueError(f"unknown model format {fmt!r}: this store was written by a newer version")
