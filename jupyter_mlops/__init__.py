"""jupyter-mlops."""
