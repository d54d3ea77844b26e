"""Every registry schedule builds, runs a short real training loop through the loop's one
interface, and resumes to identical LRs (the adaptive ones fed fixed metric sequences)."""

import io
import math

import pytest
import torch

from uncertainty_lr.experiments.schedules import ADAPTER_CLASSES, make_schedule
from uncertainty_lr.schedulers.registry import ADAPTERS, SCHEDULES

EPOCHS, STEPS = 6, 5
# Fixed validation metrics per epoch: the adaptive schedules' LRs depend on these only, so
# a resumed run must reproduce them exactly (loss stalls from epoch 3, entropy falls).
VAL_LOSS = [1.0, 0.8, 0.85, 0.85, 0.9, 0.95]
VAL_ENTROPY = [0.9, 0.6, 0.3, 0.04, 0.02, 0.5]
VAL_OVERCONFIDENCE = [0.0, 0.02, 0.08, 0.09, 0.1, 0.1]  # the default arm anneals from epoch 4


def tiny_problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 4, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2)
    )
    return model, x, y


def run_epochs(model, schedule, x, y, epochs, seed=0, start=0):
    lrs = []
    for epoch in range(start, epochs):
        # Reseeded per epoch, as the loop does, so a resume sees the same dropout masks.
        torch.manual_seed(seed * 1000 + epoch)
        schedule.train()
        model.train()
        for b in range(STEPS):
            xb, yb = x[b * 8 : (b + 1) * 8], y[b * 8 : (b + 1) * 8]
            schedule.optimizer.zero_grad()
            logits = model(xb)
            loss = torch.nn.functional.cross_entropy(logits, yb)
            loss.backward()
            schedule.optimizer.step()
            schedule.after_batch(logits.detach(), loss.detach())
        schedule.eval()
        model.eval()
        schedule.after_epoch({"val_loss": VAL_LOSS[epoch], "val_entropy": VAL_ENTROPY[epoch],
                              "val_overconfidence": VAL_OVERCONFIDENCE[epoch]})  # fmt: skip
        lrs.append(schedule.get_last_lr()[0])
    return lrs


def build(name, **options):
    model, x, y = tiny_problem()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    return model, x, y, make_schedule(name, opt, epochs=EPOCHS, steps_per_epoch=STEPS, **options)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_schedule_trains_and_lrs_stay_positive(name):
    model, x, y, schedule = build(name)
    before = [p.detach().clone() for p in model.parameters()]
    lrs = run_epochs(model, schedule, x, y, EPOCHS)
    assert len(lrs) == EPOCHS and all(lr >= 0 for lr in lrs)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


ADAPTIVE = {
    "plateau": {"patience": 0},
    "greedy": {},
    "uncertainty": {"mode": "threshold", "threshold": 0.1},
    "uncertainty:proportional": {"mode": "proportional", "smoothing": 0.5, "cooldown": 1},
    "uncertainty:train_entropy": {"mode": "threshold", "signal": "train_entropy", "every": "step"},
    "uncertainty:anneal": {"mode": "anneal", "patience": 1},
    "uncertainty:known": {"budget": "known", "decay_earliest": 0.2, "search_steps": 4},
    "uncertainty:cycle-average": {"mode": "cycle", "signal": "overconfidence", "average": 0.2},
}
ARMS = (
    [(name, {}) for name in SCHEDULES]
    + [("uncertainty", {"mode": "threshold", "envelope": "linear"})]
    + [(key.split(":")[0], options) for key, options in ADAPTIVE.items()]
)


@pytest.mark.parametrize("name, options", ARMS)
def test_every_schedule_resumes_exactly_through_weights_only(name, options):
    model, x, y, schedule = build(name, **options)
    expected = run_epochs(model, schedule, x, y, EPOCHS)
    if name not in ("constant", "schedule_free"):  # flat by design (after a 2-step warmup)
        assert len(set(expected)) > 1  # the LR moved: the check has teeth

    model, x, y, schedule = build(name, **options)
    got = run_epochs(model, schedule, x, y, 3)
    buf = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "opt": schedule.optimizer.state_dict(),
            "sched": schedule.state_dict(),
        },
        buf,
    )
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    model2, x, y, schedule2 = build(name, **options)
    model2.load_state_dict(ckpt["model"])
    schedule2.optimizer.load_state_dict(ckpt["opt"])
    schedule2.load_state_dict(ckpt["sched"])
    got += run_epochs(model2, schedule2, x, y, EPOCHS, start=3)
    # The fixed schedules follow the step count, the adaptive ones the fed metrics, prodigy
    # the gradients (the same: dropout is reseeded per epoch); train_entropy reads the
    # logits of the same data, hence equal up to float round-off.
    if options.get("signal") == "train_entropy":
        assert got == pytest.approx(expected, rel=1e-12)
    else:
        assert got == expected


def test_fixed_schedules_have_their_textbook_shape():
    _, _, _, cos = build("cosine")
    _, _, _, step = build("step", step_epochs=2, gamma=0.5)
    lrs_cos, lrs_step = [], []
    for _ in range(EPOCHS):
        for _ in range(STEPS):
            cos.optimizer.step()
            cos.after_batch()
        step.after_epoch({})
        lrs_cos.append(cos.get_last_lr()[0])
        lrs_step.append(step.get_last_lr()[0])
    assert lrs_cos[-1] == pytest.approx(0.0, abs=1e-12)
    assert lrs_cos[1] == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 2 / EPOCHS)))
    assert lrs_step == pytest.approx([1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3, 1.25e-3])


def test_plateau_uses_study_settings():
    _, _, _, s = build("plateau")
    for loss in [1.0, 1.0, 1.0, 1.0, 1.0]:
        s.after_epoch({"val_loss": loss})
    assert s.get_last_lr() == [pytest.approx(2e-3)]  # patience 3 then x0.2


def test_uncertainty_schedule_reads_its_signal():
    _, _, _, s = build("uncertainty", mode="threshold", signal="entropy", threshold=0.5)
    s.after_epoch({"val_entropy": 0.9, "val_loss": 1.0})
    assert s.get_last_lr() == [pytest.approx(1.1e-2)]
    s.after_epoch({"val_entropy": 0.1})
    assert s.get_last_lr() == [pytest.approx(1.1e-2 * 0.9)]
    assert s.last_signal == pytest.approx(0.1)


def test_uncertainty_schedule_from_training_logits_needs_no_validation_signal():
    _, _, _, s = build("uncertainty", mode="threshold", signal="train_entropy", threshold=0.5)
    s.after_batch(torch.zeros(8, 2))  # uniform: entropy 1
    s.after_epoch({})
    assert s.get_last_lr() == [pytest.approx(1.1e-2)]


def test_mc_signal_is_requested_from_the_loop():
    _, _, _, s = build("uncertainty", signal="ll_mutual_information")
    assert s.val_signals == ("ll_mutual_information",)


def test_unknown_schedule_lists_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown schedule 'cosin'; known: constant, step, cosine"
    ):
        build("cosin")


def test_unknown_option_lists_allowed_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown option\(s\) gama for schedule 'step'; allowed: gamma, step_epochs",
    ):
        build("step", gama=0.5)


@pytest.mark.parametrize("epochs", [0, -1, 2.5])
def test_bad_epochs(epochs):
    model, _, _ = tiny_problem()
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match=f"epochs must be a positive integer, got {epochs}"):
        make_schedule("cosine", opt, epochs=epochs, steps_per_epoch=3)


def test_envelope_times_modulation_is_linear_to_zero_times_the_uncertainty_factor():
    # The per-step envelope (1 - k / total) and the per-epoch uncertainty factor multiply.
    _, _, _, s = build("uncertainty", mode="threshold", envelope="linear", threshold=0.5,
                     step_size=0.5)  # fmt: skip
    total, lrs, factor, by_hand = EPOCHS * STEPS, [], 1.0, []
    for epoch in range(EPOCHS):
        for _ in range(STEPS):
            s.optimizer.step()
            s.after_batch()
        u = 0.9 if epoch % 2 == 0 else 0.1
        s.after_epoch({"val_entropy": u})
        factor *= 1.5 if u > 0.5 else 0.5
        lrs.append(s.get_last_lr()[0])
        by_hand.append(1e-2 * (1 - (epoch + 1) * STEPS / total) * factor)
    assert lrs == pytest.approx(by_hand, rel=1e-9, abs=1e-15)
    assert lrs[-1] == 0.0


def test_anneal_mode_runs_in_the_loop_and_resumes():
    _, _, _, s = build("uncertainty", mode="anneal", patience=1)
    for u in [0.9, 0.5, 0.5, 0.5]:
        s.after_epoch({"val_entropy": u})
    assert s.scheduler.policy.decay_start == 3
    assert s.get_last_lr()[0] < 1e-2


def test_overconfidence_arm_asks_the_loop_for_its_signal_and_anneals_on_it():
    _, _, _, s = build(
        "uncertainty", mode="anneal", trigger="threshold", signal="overconfidence",
        decay_ratio=1.0,
    )  # fmt: skip
    assert s.val_signals == ("overconfidence",)
    for u in [0.0, 0.02, 0.08, 0.09]:  # over 0.05 twice in a row at the 4th decision
        s.after_epoch({"val_entropy": 0.9, "val_overconfidence": u})
    assert s.scheduler.policy.decay_start == 4 and s.last_signal == 0.09
    assert s.get_last_lr()[0] == pytest.approx(1e-2 * 3 / 4)


def test_calibration_gap_arm_explores_on_the_signed_signal_and_floors_it_without_explore():
    options = dict(mode="anneal", trigger="threshold", signal="calibration_gap", decay_ratio=1.0)
    _, _, _, s = build("uncertainty", explore=True, **options)
    assert s.val_signals == ("calibration_gap",)
    for u in [-0.3, -0.1, -0.02, 0.08, 0.09]:  # x1.1 twice, then over 0.05 twice in a row
        s.after_epoch({"val_entropy": 0.9, "val_calibration_gap": u})
    assert s.scheduler.policy.decay_start == 5 and s.last_signal == 0.09
    assert s.get_last_lr()[0] == pytest.approx(1e-2 * 1.21 * 4 / 5)
    _, _, _, plain = build("uncertainty", **options)  # no explore: the gap floored at 0
    for u in [-0.3, -0.1, -0.02, 0.08, 0.09]:
        plain.after_epoch({"val_entropy": 0.9, "val_calibration_gap": u})
    assert plain.get_last_lr()[0] == pytest.approx(1e-2 * 4 / 5) and plain.last_signal == 0.09


def test_the_loop_has_a_class_for_every_adapter_the_registry_names():
    assert set(ADAPTER_CLASSES) == set(ADAPTERS)
    for name, spec in SCHEDULES.items():
        assert type(build(name)[3]) is ADAPTER_CLASSES[spec.adapter], name


def test_a_signal_is_fed_from_where_the_catalog_says():
    schedule = build("uncertainty", mode="threshold", signal="train_margin")[3]
    assert schedule.tracker.signal == "margin" and schedule.val_signals == ()
    assert build("uncertainty", mode="threshold", signal="entropy")[3].val_signals == ()
    assert build("uncertainty", mode="threshold", signal="ll_entropy")[3].val_signals == (
        "ll_entropy",
    )


def test_cycle_arms_step_every_batch_with_the_loss_and_decide_at_the_next_step():
    model, x, y, s = build("uncertainty", budget="known", search_steps=STEPS)
    assert s.scheduler.options.total_steps == EPOCHS * STEPS  # told the run's length
    lrs = run_epochs(model, s, x, y, 2)
    assert lrs[0] == pytest.approx(1e-1)  # the ramp reached max_lr (10 x) after one epoch
    assert s.scheduler.policy.rule.t == 2 * STEPS


def test_weight_average_is_evaluated_and_resumes_exactly():
    options = dict(mode="cycle", signal="overconfidence", average=0.5)
    model, x, y, s = build("uncertainty", **options)
    run_epochs(model, s, x, y, EPOCHS)
    whole = [p.detach().clone() for p in model.parameters()]  # after eval(): the average
    trained = [t.clone() for t in s.average.live]
    assert any(not torch.equal(a, b) for a, b in zip(whole, trained))

    model, x, y, s = build("uncertainty", **options)
    run_epochs(model, s, x, y, 3)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": s.optimizer.state_dict(),
                "sched": s.state_dict()}, buf)  # fmt: skip
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    model2, x, y, s2 = build("uncertainty", **options)
    model2.load_state_dict(ckpt["model"])
    s2.optimizer.load_state_dict(ckpt["opt"])
    s2.load_state_dict(ckpt["sched"])
    run_epochs(model2, s2, x, y, EPOCHS, start=3)
    assert all(torch.equal(a, b) for a, b in zip(whole, model2.parameters()))
