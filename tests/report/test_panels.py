"""With many arms a figure shows the uncertainty arms and the 3 best baselines; the rest go
to a second, folded figure (panels.split_arms, the study report's curves)."""

from __future__ import annotations

import math

from uncertainty_lr.experiments.store import Store
from uncertainty_lr.report import write_report
from uncertainty_lr.report.panels import split_arms

from .test_report import add_run


def test_split_keeps_order_uncertainty_arms_and_the_best_three():
    arms = ["uncertainty", "a", "b", "c", "d", "uncertainty:mode=band", "e"]
    score = {"a": 0.5, "b": 0.9, "c": 0.7, "d": 0.8, "e": math.nan, "uncertainty": 0.1}
    shown, rest = split_arms(arms, ["uncertainty", "uncertainty:mode=band"], score)
    assert shown == ["uncertainty", "b", "c", "d", "uncertainty:mode=band"]
    assert rest == ["a", "e"]  # e has no finite score: it ranks last
    shown, rest = split_arms(arms, ["uncertainty"], score, keep=1, also=["a"])
    assert shown == ["uncertainty", "a", "b"] and "uncertainty:mode=band" in rest
    assert split_arms(["uncertainty", "a"], ["uncertainty"], {}) == (["uncertainty", "a"], [])


def test_nine_arms_draw_four_curves_and_fold_the_other_five(tmp_path):
    finals = {"uncertainty": 0.90, "constant": 0.91, "step": 0.89, "cosine": 0.92,
              "plateau": 0.80, "onecycle": 0.93, "linear": 0.85, "wsd": 0.86, "greedy": 0.70}  # fmt: skip
    with Store(tmp_path) as store:
        for schedule, final in finals.items():
            for seed in range(3):
                add_run(store, "p", schedule, seed, final=final + 0.002 * seed, epochs=3)
    report = write_report(tmp_path)
    figures = {p.name for p in (report / "figures").glob("curves*.png")}
    assert figures == {"curves_p.png", "curves_rest_p.png"}
    md = (report / "report.md").read_text()
    # shown: uncertainty and the 3 baselines of highest mean test accuracy
    folded = "<details><summary>Training curves of the other 5 baselines (step, plateau, linear, wsd, greedy)"
    assert folded in md
    assert (
        md.index("figures/curves_p.png") < md.index(folded) < md.index("figures/curves_rest_p.png")
    )
