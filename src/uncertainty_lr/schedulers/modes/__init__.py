"""The modes of the uncertainty policy, one small class each, by the ``mode`` option's value.

A new mode is one file here with a ``ModeRule`` subclass, one entry in ``RULES``, its name
among the ``mode`` choices of ``UncertaintyOptions`` and the options it reads in its
``READS`` and in ``options.READ_WHEN`` (a test holds the two equal); no other mode changes. ``reference`` holds a plain twin of each.
"""

from uncertainty_lr.schedulers.modes.anneal import AnnealRule
from uncertainty_lr.schedulers.modes.band import BandRule
from uncertainty_lr.schedulers.modes.base import ModeRule, PolicyView
from uncertainty_lr.schedulers.modes.cycle import CycleRule
from uncertainty_lr.schedulers.modes.proportional import ProportionalRule, proportional_factor
from uncertainty_lr.schedulers.modes.threshold import ThresholdRule

#: Mode name -> its class.
RULES: dict[str, type[ModeRule]] = {
    rule.name: rule for rule in (ThresholdRule, BandRule, ProportionalRule, AnnealRule, CycleRule)
}

__all__ = [
    "RULES",
    "AnnealRule",
    "BandRule",
    "CycleRule",
    "ModeRule",
    "PolicyView",
    "ProportionalRule",
    "ThresholdRule",
    "proportional_factor",
]
