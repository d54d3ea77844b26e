"""An uncertainty arm whose LR never moved is named in the verdict, with what its signal read
(static_lr; on digits the former default's over-confidence signal is 0 in every epoch)."""

from __future__ import annotations

import dataclasses

import numpy as np

from uncertainty_lr.report import load_study, write_report
from uncertainty_lr.report.static_lr import lr_never_moved, static_lr_note

from .conftest import STATIC

STATIC_NOTE = ("Its LR never moved (0.001 in every epoch of its 3 runs), so it trained as "
                "constant LR: its signal (overconfidence) was 0 throughout and its rule (mode "
                "anneal) never acted.")  # fmt: skip


def test_the_former_default_on_digits_never_moves_its_lr(digits_anytime):
    study = load_study(digits_anytime, by_budget=True)
    assert static_lr_note(study, "digits_mlp", STATIC) == STATIC_NOTE
    assert static_lr_note(study, "digits_mlp", "uncertainty") is None  # its search moves it


def test_one_moved_epoch_is_movement_and_no_lr_is_no_claim(digits_anytime):
    runs = load_study(digits_anytime, by_budget=True).runs_of("digits_mlp", STATIC)
    assert lr_never_moved(runs) is True
    moved = runs[0].curve("lr").copy()
    moved[-1] *= 0.5
    changed = dataclasses.replace(runs[0], curves={**runs[0].curves, "lr": moved})
    assert lr_never_moved([changed, *runs[1:]]) is False
    blank = dataclasses.replace(
        runs[0], curves={k: v for k, v in runs[0].curves.items() if k != "lr"}
    )
    assert lr_never_moved([blank]) is None and lr_never_moved([]) is None
    assert np.isfinite(runs[0].curve("lr")).all()


def test_the_study_verdict_says_so_beside_the_rank(digits_anytime, tmp_path):
    md = (write_report(digits_anytime, tmp_path / "study") / "report.md").read_text()
    verdict = md.split("## Verdict")[1].split("## Problem")[0]
    first = next(line for line in verdict.splitlines() if f"{STATIC} ranks" in line)
    assert STATIC_NOTE in first  # in the same paragraph as the rank it qualifies
    assert verdict.count("Its LR never moved") == 1  # not for the default arm
