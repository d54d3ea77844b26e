"""Plots, tables and the written analysis of a results store (no torch import).

``write_report(store_dir)`` is the entry point; ``load_study`` and ``summarise`` give the
numbers behind it for custom analyses; ``write_budget_figure`` draws the anytime report's
accuracy-against-budget figure of one problem on its own.
"""

from uncertainty_lr.report.anytime_figure import write_budget_figure
from uncertainty_lr.report.build import write_report
from uncertainty_lr.report.load import RunData, Study, load_study
from uncertainty_lr.report.summary import AB_METRICS, Comparison, Summary, summarise

__all__ = [
    "AB_METRICS",
    "Comparison",
    "RunData",
    "Study",
    "Summary",
    "load_study",
    "summarise",
    "write_budget_figure",
    "write_report",
]
