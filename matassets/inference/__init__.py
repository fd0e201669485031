"""Inference without Dagster: predictions from a model folder, the ASE calculator for a potential."""
