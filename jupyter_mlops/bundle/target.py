"""Where a bundle may be written, and how an old bundle is replaced without losing anything.

jupyter-mlops deletes only what it made: ``overwrite`` replaces a previous *bundle* (a folder
whose ``MANIFEST.json`` says ``jupyter-mlops-bundle``, or a .zip holding one), never another
folder or file, and never a bundle holding files its manifest does not list (they are the
user's); it never writes inside a store, nor at the working directory, the home directory or a
folder that contains one of them. The new bundle is written beside the target first; the old one is
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
STORE_DATABASE = "lineage.db"


MANIFEST_MAX_BYTES = 1 << 20


def is_bundle_dir(path: Path) -> bool:
    """Whether ``path`` is a folder that jupyter-mlops wrote as a bundle."""
    return _listed(path) is not None if path.is_dir() else False


def _manifest_files(text: bytes | str) -> set[str] | None:
    """The paths a bundle manifest lists (with ``MANIFEST.json``), or None when ``text`` is
    not a bundle manifest."""
    try:
        manifest = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    files = manifest.get("files")
    return {str(name) for name in files} | {"MANIFEST.json"} if isinstance(files, dict) \
        else {"MANIFEST.json"}


def _listed(folder: Path) -> set[str] | None:
    manifest = folder / "MANIFEST.json"
    try:
        if manifest.is_symlink() or manifest.stat().st_size > MANIFEST_MAX_BYTES:
            return None
        return _manifest_files(manifest.read_bytes())
    except OSError:
        return None


def _unlisted(names: Iterable[str], listed: set[str]) -> list[str]:
    """The entries (``/``-separated, folders ending in ``/``) a manifest does not list."""
    parents = {"/".join(name.split("/")[:i]) + "/" for name in listed
               for i in range(1, name.count("/") + 1)}
    return sorted(name for name in names if name not in listed and name not in parents)


def unlisted_in_dir(folder: Path, listed: set[str]) -> list[str]:
    """Files and folders under ``folder`` that its manifest does not list."""
    names = [path.relative_to(folder).as_posix() + ("/" if path.is_dir() and
                                                    not path.is_symlink() else "")
             for path in folder.rglob("*")]
    return _unlisted(names, listed)


def is_bundle_zip(path: Path) -> bool:
    """Whether ``path`` is a .zip that holds a bundle's ``MANIFEST.json``."""
    return _zip_unlisted(path) is not None


def _zip_unlisted(path: Path) -> list[str] | None:
    """The entries of a bundle .zip its manifest does not list; None: not a bundle .zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("MANIFEST.json")
            if info.file_size > MANIFEST_MAX_BYTES:
                return None
            listed = _manifest_files(archive.read(info))
            names = archive.namelist()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return None if listed is None else _unlisted(names, listed)


def _not_only_the_bundle(where: Path, unlisted: list[str]) -> BundleError:
    shown = ", ".join(unlisted[:5]) + (f" and {len(unlisted) - 5} more" if len(unlisted) > 5
                                       else "")
    return BundleError(
        f"{where} holds files its bundle MANIFEST.json does not list ({shown}): it was left "
        "untouched, as --overwrite replaces only a bundle exactly as jupyter-mlops wrote it. "
        "Move those files out, or choose another path")


def check_target(target: Path, *, overwrite: bool, zip: bool, protected: Iterable[Path]) -> None:
    """Raise :class:`BundleError` unless a bundle may be written at ``target`` (and
    ``target.zip`` when ``zip``): it is new or an empty folder, or, with ``overwrite``, a
    previous bundle that is none of ``protected`` (nor contains one of them)."""
    resolved = target.resolve()
    for folder in (resolved, *resolved.parents):
        if (folder / STORE_DATABASE).is_file():
            raise BundleError(
                f"refusing to write a bundle at {target}: it is inside the store {folder}. "
                f"Give a folder outside it, e.g. {folder.parent / 'bundle'}")
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
        listed = _listed(target)
        if listed is None:
            raise BundleError(
                f"{target} already exists and is not a jupyter-mlops bundle (no MANIFEST.json "
                "of ours): it was left untouched; choose another path. --overwrite replaces "
                "only a previous bundle."
            )
        if not overwrite:
            raise BundleError(f"{target} already exists and is not empty: choose another path "
                              "or replace it (overwrite=True, --overwrite on the command line)")
        unlisted = unlisted_in_dir(target, listed)
        if unlisted:
            raise _not_only_the_bundle(target, unlisted)
    archive = zip_path(target)
    if zip and (archive.exists() or archive.is_symlink()):
        in_zip = _zip_unlisted(archive) if archive.is_file() and not archive.is_symlink() \
            else None
        if in_zip is None:
            raise BundleError(f"{archive} already exists and is not a jupyter-mlops bundle .zip: "
                              "it was left untouched; choose another path")
        if not overwrite:
            raise BundleError(f"{archive} already exists: choose another path or replace it "
                              "(overwrite=True, --overwrite on the command line)")
        if in_zip:
            raise _not_only_the_bundle(archive, in_zip)


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
