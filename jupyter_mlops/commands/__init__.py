"""What the ``%mlops`` magic and the ``jupyter-mlops`` CLI share (L5): plain-text views of the
store, argument definitions, resolution of RUN/MODEL references and their messages.

May import everything below the front ends (``store`` … ``lifecycle``); never IPython or
Jupyter: both front ends call in here.
"""
