"""``python -m uncertainty_lr`` is the ``uncertainty-lr`` command."""

from uncertainty_lr.cli import entry

raise SystemExit(entry())
