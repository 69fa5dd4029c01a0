"""Models by framework (L1): recognising a fitted model, its hyperparameters, scoring it,
reading how much it relies on each column, and serializing it (skops, pickle as a fallback).

May import: ``errors``, ``entities``, ``data``; the frameworks themselves only inside functions.
Where to add a framework: recognition and parameters in :mod:`.models`, saving and loading in
:mod:`.serialize`, importance in :mod:`.importance`; what a bundle may load is
``bundle.trust``'s allowlist.
"""
