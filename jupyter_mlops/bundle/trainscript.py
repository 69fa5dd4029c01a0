"""train.py: the minimal code slice that re-creates a run's model outside the notebook."""

from __future__ import annotations

from ..entities import Run

HEADER = '''"""Re-create the model of run {run_id} ({name}) outside the notebook.

    python train.py [--output retrained.skops]  (a torch module: --output model.safetensors)

The cells below are the recorded cell and the earlier cells its inputs came from, in the order
they ran. jupyter-mlops logging calls become no-ops and IPython magics are skipped.
"""

import argparse
import sys
import types

_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--output", default="retrained.skops", help="where to write the model")
_args = _parser.parse_args()

_mlops = types.ModuleType("jupyter_mlops")
for _name in ("log_metric", "log_metrics", "log_param", "log_artifact"):
    setattr(_mlops, _name, lambda *args, **kwargs: None)
sys.modules["jupyter_mlops"] = _mlops


class _NoIPython:
    """Stands in for get_ipython(): magics and shell escapes are skipped, with a note."""

    def __getattr__(self, name):
        def skipped(*args, **kwargs):
            print(f"train.py: skipped IPython {{name}}{{args[:2]}}", file=sys.stderr)
        return skipped


def get_ipython():
    return _NoIPython()

'''

FOOTER = '''
# --- save the model -------------------------------------------------------------------------
import os  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "code"))
try:  # the bundle's loader code: a torch module is written as the bundle writes it
    import mlops_pytorch
except ImportError:
    mlops_pytorch = None
if mlops_pytorch is not None and mlops_pytorch.is_native({variable}):
    with open(__file__, encoding="utf-8") as _source, open(_args.output, "wb") as _file:
        _file.write(mlops_pytorch.dump({variable}, [_source.read()], globals()))
else:
    import skops.io

    skops.io.dump({variable}, _args.output)
print(f"wrote {{_args.output}}")
'''


def train_script(run: Run, model_variable: str) -> str:
    """The text of train.py for ``run``, saving ``model_variable`` at the end."""
    parts = [HEADER.format(run_id=run.run_id, name=run.name)]
    for cell in run.code_slice:
        label = f"[{cell.execution_count}]" if cell.execution_count is not None else ""
        parts.append(f"# --- cell {label} {'-' * 80}"[:100] + "\n" + cell.source.rstrip() + "\n")
    parts.append(f"# --- the tracked cell: {run.name} {'-' * 80}"[:100] + "\n"
                 + run.source.rstrip() + "\n")
    parts.append(FOOTER.format(variable=model_variable))
    return "\n".join(parts)
