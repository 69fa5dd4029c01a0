"""Write a rollout bundle: a champion and a challenger bundle, the policy, and the server.

The layout is ``champion/`` and ``challenger/`` (two complete bundles, each with its own
manifest), ``policy.json``, ``serve.py`` (:mod:`.rollout`) and the serving code it imports
(``code/mlops_serve.py`` and the loader code every bundle carries); ``MANIFEST.json`` lists
every file, the arms' included, so the rollout is checked as a whole and each arm again by
itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..store import Store, open_store
from ..store.registry import ModelVersion
from . import rollout
from .export import CODE_FILES as BUNDLE_CODE
from .export import FORMAT_VERSION, export_bundle
from .target import FORMAT, check_target, install

HERE = Path(__file__).resolve().parent
# The rollout's own code: its server, and the serving code it imports with the loader code
# every bundle carries (trust, frameworks): one list, so a new framework reaches both.
CODE_FILES = {"serve.py": HERE / "rollout.py", "code/mlops_serve.py": HERE / "serve.py",
              **BUNDLE_CODE}


def export_rollout(
    champion: ModelVersion | str,
    challenger: ModelVersion | str,
    path: str | os.PathLike[str],
    *,
    mode: str,
    share: float | None = None,
    sticky_key: str | None = None,
    store: Store | None = None,
    trusted: list[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a rollout bundle serving ``champion`` and ``challenger`` by a policy.

    Parameters
    ----------
    champion, challenger : a ModelVersion, ``"name@stage"``, ``"name/3"``, or a run
    path : the rollout directory to create
    mode : ``shadow`` (the champion answers, the challenger scores the same rows off the
        request path), ``canary`` (a share of rows is answered by the challenger) or ``ab``
        (as canary, for an experiment: the share is logged with every row)
    share : the challenger's share of rows (default canary 0.1, ab 0.5; shadow: every row)
    sticky_key : a column whose value decides a row's arm (by hash), so a key always lands
        on the same arm; it need not be a model feature
    trusted, overwrite : as for :func:`~jupyter_mlops.bundle.export_bundle`

    Returns the rollout directory; serve it with ``python PATH/serve.py`` or
    ``jupyter-mlops serve PATH``.
    """
    policy = rollout.Policy.of(mode, share, sticky_key)
    store = store or open_store(create=False)
    target = Path(path)
    check_target(target, overwrite=overwrite, zip=False,
                 protected=[store.directory, Path.cwd(), Path.home()])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".rollout-", dir=target.parent))
    try:
        versions = {}
        for arm, ref in zip(rollout.ARMS, (champion, challenger), strict=True):
            export_bundle(ref, staging / arm, store=store, trusted=trusted)
            versions[arm] = json.loads((staging / arm / "MANIFEST.json").read_text())["model"]
        (staging / "policy.json").write_text(json.dumps(dataclasses.asdict(policy), indent=1))
        for name, source in CODE_FILES.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / name)
        files = {p.relative_to(staging).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": rollout.KIND,
                    "created_at": time.time(), "arms": versions,
                    "policy": {"mode": policy.mode, "share": policy.share,
                               "sticky_key": policy.sticky_key},
                    "files": files}
        (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
        install(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target

