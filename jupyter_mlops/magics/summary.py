"""The summary under a tracked cell as a display bundle: ``text/plain`` is the line itself; a
``text/html`` twin shows the same text and an "Open in the MLOps sidebar" button.

JupyterLab's command linker runs the command a ``<button>`` names in its
``data-commandlinker-command`` attribute (with ``data-commandlinker-args``) when it is
clicked; its HTML sanitizer keeps both attributes on buttons (``allowCommandLinker``, on by
default). In a notebook whose outputs are not trusted (opened from a file), JupyterLab asks
before running the command. Front ends without a command linker show an inert button.
"""

from __future__ import annotations

import html
import json

OPEN_RUN_COMMAND = "jupyter-mlops:open-run"  # labextension/src/index.ts


def summary_bundle(text: str, run_id: str) -> dict[str, str]:
    """The display bundle of a tracked cell's summary ``text`` about run ``run_id``."""
    args = html.escape(json.dumps({"runId": run_id}), quote=True)
    return {
        "text/plain": text,
        "text/html": (
            f'<pre class="jp-mlops-summary">{html.escape(text)}</pre>'
            f'<button type="button" class="jp-mlops-open-run" title="Show run '
            f'{html.escape(run_id)} in the MLOps sidebar" '
            f'data-commandlinker-command="{OPEN_RUN_COMMAND}" data-commandlinker-args="{args}">'
            "Open in the MLOps sidebar</button>"
        ),
    }
