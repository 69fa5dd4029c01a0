"""Sync with an MLflow tracking server (L4): ``push`` mirrors the store's runs, models and
registry to a shared server; ``pull`` brings a team's runs and models back as read-only copies.

Beside ``lifecycle``: may import ``store``, ``bundle``, ``data``, ``frameworks``, ``drift``,
``capture`` and L0; never a front end (``commands``, ``magics``, ``cli``, ``widgets``,
``server``). MLflow's client (``pip install 'jupyter-mlops[mlflow]'``) is imported only inside
functions: the rest of the package works without it.
"""

from .pulling import load_model, pull, pull_model
from .pushing import push
from .remote import SyncReport

__all__ = ["SyncReport", "load_model", "pull", "pull_model", "push"]
