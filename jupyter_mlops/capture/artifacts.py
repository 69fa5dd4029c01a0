"""Turning what a user passes to ``log_artifact`` into bytes."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any


def artifact_bytes(obj: Any) -> tuple[bytes, str, str | None]:
    """``(bytes, media type, default name)`` for a path, bytes, DataFrame or figure."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj), "application/octet-stream", None
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(
                f"log_artifact({str(obj)!r}): no such file (relative to {os.getcwd()})"
            )
        return path.read_bytes(), "application/octet-stream", path.name
    module = type(obj).__module__ or ""
    if module.startswith("pandas"):
        frame = obj.to_frame() if hasattr(obj, "to_frame") else obj
        return frame.to_csv().encode(), "text/csv", None
    if module.startswith("plotly") and hasattr(obj, "to_json"):
        return obj.to_json().encode(), "application/vnd.plotly.v1+json", None
    if module.startswith("matplotlib") and hasattr(obj, "savefig"):
        buffer = io.BytesIO()
        obj.savefig(buffer, format="png")
        return buffer.getvalue(), "image/png", None
    raise TypeError(
        f"log_artifact cannot store a {type(obj).__name__}: pass a file path, bytes, a pandas "
        "DataFrame/Series, or a plotly/matplotlib figure"
    )
