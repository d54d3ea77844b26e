"""Experiment harness: configs, sweeps, the SQLite results store, exports and checkpoints."""
