"""Execute notebooks headless in a real kernel (nbclient), as `make demo` does.

Usage: python notebooks/run.py NOTEBOOK... — each is executed in its own directory and saved
next to it as NAME.executed.ipynb; a failing cell stops with its error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from jupyter_mlops.ci.execute import execute_notebook


def execute(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path``; returns the executed notebook."""
    return execute_notebook(Path(path), timeout=timeout)


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
