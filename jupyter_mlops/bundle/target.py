"""Where a bundle may be written, and how an old bundle is replaced without losing anything.

jupyter-mlops deletes only what it made: ``overwrite`` replaces a previous *bundle* (a folder
whose ``MANIFEST.json`` says ``jupyter-mlops-bundle``, or a .zip holding one), never another
folder or file, and never the store, the working directory, the home directory or a folder
that contains one of them. The new bundle is written beside the target first; the old one is
moved aside, the new one moved in, and only then is the old one removed, so a failure at any
step leaves a complete bundle (old or new) at the target.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import BundleError

FORMAT = "jupyter-mlops-bundle"


def is_bundle_dir(path: Path) -> bool:
    """Whether ``path`` is a folder that jupyter-mlops wrote as a bundle."""
    return _is_bundle_manifest(path / "MANIFEST.json") if path.is_dir() else False


def _is_bundle_manifest(manifest: Path) -> bool:
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def is_bundle_zip(path: Path) -> bool:
    """Whether ``path`` is a .zip that holds a bundle's ``MANIFEST.json``."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("MANIFEST.json"))
        return isinstance(manifest, dict) and manifest.get("format") == FORMAT
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False


def check_target(target: Path, *, overwrite: bool, zip: bool, protected: Iterable[Path]) -> None:
    """Raise :class:`BundleError` unless a bundle may be written at ``target`` (and
    ``target.zip`` when ``zip``): it is new or an empty folder, or, with ``overwrite``, a
    previous bundle that is none of ``protected`` (nor contains one of them)."""
    resolved = target.resolve()
    for place in protected:
        place = place.resolve()
        if resolved == place or resolved in place.parents:
            raise BundleError(
                f"refusing to write a bundle at {target}: it is or contains {place} (the store, "
                "the working directory or the home directory). Give a new folder, e.g. "
                f"{target / 'bundle'}"
            )
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise BundleError(f"{target} is a file or a link, not a folder: it was left untouched; "
                          "give a new folder for the bundle")
    if target.is_dir() and any(target.iterdir()):
        if not is_bundle_dir(target):
            raise BundleError(
                f"{target} already exists and is not a jupyter-mlops bundle (no MANIFEST.json "
                "of ours): it was left untouched; choose another path. --overwrite replaces "
                "only a previous bundle."
            )
        if not overwrite:
            raise BundleError(f"{target} already exists and is not empty: choose another path "
                              "or replace it (overwrite=True, --overwrite on the command line)")
    archive = zip_path(target)
    if zip and (archive.exists() or archive.is_symlink()):
        if not archive.is_file() or not is_bundle_zip(archive):
            raise BundleError(f"{archive} already exists and is not a jupyter-mlops bundle .zip: "
                              "it was left untouched; choose another path")
        if not overwrite:
            raise BundleError(f"{archive} already exists: choose another path or replace it "
                              "(overwrite=True, --overwrite on the command line)")


def zip_path(target: Path) -> Path:
    """The .zip written beside the bundle folder ``target``."""
    return target.with_name(target.name + ".zip")


def install(staging: Path, target: Path) -> None:
    """Move the finished bundle ``staging`` to ``target``, replacing a previous bundle there:
    old aside, new in, then old removed (on failure the old one is put back)."""
    if not target.exists():
        os.replace(staging, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, aside / "bundle")
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(aside / "bundle", target)
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)


def write_zip(bundle: Path) -> Path:
    """Zip the bundle folder to ``bundle.zip`` atomically (written beside it, then renamed)."""
    archive = zip_path(bundle)
    fd, temporary = tempfile.mkstemp(prefix=f".{archive.name}-", suffix=".zip",
                                     dir=bundle.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as out:
            for file in sorted(bundle.rglob("*")):
                if file.is_file():
                    out.write(file, file.relative_to(bundle).as_posix())
        os.replace(temporary, archive)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return archive
