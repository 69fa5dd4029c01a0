"""Content-addressed files: `artifacts/ab/abcdef…` named by their sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..errors import ArtifactError


class ArtifactFiles:
    """A directory of immutable blobs named by the sha256 of their bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the blob with this hash lives (it may not exist)."""
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256. Writing the same bytes twice is free."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def get(self, sha256: str, *, verify: bool = True) -> bytes:
        """The bytes of a blob; with ``verify`` their hash is checked against the name."""
        target = self.path(sha256)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise ArtifactError(
                f"artifact {sha256[:12]}… is missing from {self.root}: it was deleted or the "
                "store was copied without its artifacts/ directory. `jupyter-mlops doctor` lists "
                "all such."
            ) from None
        if verify and hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactError(
                f"artifact {target} no longer matches its recorded sha256: the file was changed "
                "after it was stored. `jupyter-mlops doctor` lists all such files."
            )
        return data

    def all_hashes(self) -> set[str]:
        """Hashes of every blob on disk."""
        if not self.root.is_dir():
            return set()
        return {p.name for p in self.root.glob("??/*") if not p.name.startswith(".tmp-")}
