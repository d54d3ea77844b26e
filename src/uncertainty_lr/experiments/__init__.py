"""Experiment harness: configs, grids, the run loop, the SQLite results store, checkpoints,
executors and exports. Imports nothing above it (see docs/architecture.md)."""
