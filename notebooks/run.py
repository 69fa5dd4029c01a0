"""Execute notebooks headless in a real kernel (nbclient), as `make demo` does.

Usage: python notebooks/run.py NOTEBOOK... — each is executed in its own directory and saved
next to it as NAME.executed.ipynb; a failing cell stops with its error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path``; returns the executed notebook."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    # Jupyter Server tells a notebook's kernel its path this way; so do we.
    client.execute(env={**os.environ, "JPY_SESSION_NAME": str(path)})
    return notebook


def main(paths: list[str]) -> int:
    for name in paths:
        path = Path(name).resolve()
        executed = execute(path)
        target = path.with_name(path.stem + ".executed.ipynb")
        nbformat.write(executed, target)
        print(f"executed {path.name} → {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
