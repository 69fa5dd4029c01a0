"""Data in, facts out (L1): content fingerprints, schemas and reference profiles of datasets,
and reading tables from files.

May import: ``errors``, ``entities``, numpy, pandas. Never the store or anything above it.
"""
