"""train(): a real tiny run on digits, determinism, paired seeds, resume, divergence, early stopping."""

import pytest
import torch
from testkit import StopAfter

from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.run import train
from uncertainty_lr.experiments.store import Store

TIMES = ("train_time", "eval_time", "wall_time")


def strip_times(history):
    return [{k: v for k, v in h.items() if k not in TIMES} for h in history]


def cfg(**kw):
    base = dict(problem="digits_mlp", epochs=3, seed=0)
    return RunConfig(**{**base, **kw})


def test_digits_mlp_learns_and_records_every_metric():
    r = train(config=cfg(schedule="uncertainty"))
    assert r.status == "done" and len(r.history) == 3
    assert (r.stopped_epoch, r.tested_epoch) == (3, 3)  # no early stopping: the last epoch
    last = r.history[-1]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1", "val_ece",
                "val_confidence", "val_entropy", "val_margin", "lr", "signal", "train_time", "eval_time"):  # fmt: skip
        assert last[key] is not None, key
    assert last["val_accuracy"] > 0.8
    assert r.test["test_accuracy"] > 0.8 and 0 <= r.test["test_ece"] <= 1
    assert r.config["data_sizes"] == {"train": 1294, "val": 144, "test": 359}


def test_same_command_twice_gives_identical_metrics():
    a = train(config=cfg(schedule="cosine"))
    b = train(config=cfg(schedule="cosine"))
    assert strip_times(a.history) == strip_times(b.history)
    assert a.test == b.test


def test_seeds_are_paired_across_schedules():
    # plateau only acts after epoch 1's evaluation, so epoch 1 must match constant exactly
    a = train(config=cfg(schedule="constant", epochs=1))
    b = train(config=cfg(schedule="plateau", epochs=1))
    assert strip_times(a.history) == strip_times(b.history)
    c = train(config=cfg(schedule="constant", epochs=1, seed=1))
    assert c.history[0]["train_loss"] != a.history[0]["train_loss"]


@pytest.mark.parametrize("schedule", ["uncertainty", "schedule_free", "onecycle"])
def test_interrupted_run_resumes_to_identical_metrics(tmp_path, schedule):
    whole = train(config=cfg(schedule=schedule, epochs=4), store=Store(tmp_path / "a"))
    store = Store(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        train(config=cfg(schedule=schedule, epochs=4), store=store, hooks=[StopAfter(2)])
    assert store.get_run(whole.run_id)["status"] == "running"
    resumed = train(config=cfg(schedule=schedule, epochs=4), store=store)
    assert resumed.resumed_from == 2
    assert strip_times(resumed.history) == strip_times(whole.history)
    assert resumed.test == whole.test
    again = train(config=cfg(schedule=schedule, epochs=4), store=store)
    assert again.skipped and len(store.runs()) == 1
    assert not list((tmp_path / "b" / "checkpoints").glob("*.pt"))


def test_divergence_is_recorded_and_history_kept(tmp_path):
    store = Store(tmp_path)
    r = train(config=cfg(schedule="constant", optimizer="sgd", lr=1e6, epochs=5), store=store)
    assert r.status == "diverged"
    assert store.runs()[0]["status"] == "diverged"
    rows = store.epochs(r.run_id)
    assert rows and rows[-1]["train_loss"] is None and "train_loss" in rows[-1]["nonfinite"]
    run = store.runs()[0]
    assert run["stopped_epoch"] == rows[-1]["epoch"] and run["tested_epoch"] is None


EARLY = dict(schedule="constant", lr=3e-2, epochs=40, early_stopping=2)


def test_early_stopping_stops_after_patience_and_tests_the_best_epoch(tmp_path):
    store = Store(tmp_path)
    r = train(config=cfg(**EARLY), store=store)
    losses = [h["val_loss"] for h in r.history]
    best = losses.index(min(losses)) + 1
    assert len(r.history) < 40 and len(r.history) == best + 2
    assert (r.stopped_epoch, r.tested_epoch) == (best + 2, best)
    row = store.get_run(r.run_id)
    assert (row["stopped_epoch"], row["tested_epoch"]) == (best + 2, best)
    # The test metrics are those of the best epoch's weights: a constant-LR run of exactly
    # that many epochs (re-seeded per epoch, so the same batches) ends with the same weights.
    plain = train(config=cfg(schedule="constant", lr=3e-2, epochs=best))
    assert (plain.stopped_epoch, plain.tested_epoch) == (best, best)
    assert {k: v for k, v in r.test.items() if k != "epochs"} == {
        k: v for k, v in plain.test.items() if k != "epochs"
    }
    again = train(config=cfg(**EARLY), store=store)  # skipped: read back from the store
    assert again.skipped and (again.stopped_epoch, again.tested_epoch) == (best + 2, best)


def test_early_stopped_run_interrupted_after_its_best_epoch_resumes_to_the_same_result(tmp_path):
    whole = train(config=cfg(**EARLY))
    assert whole.tested_epoch < whole.stopped_epoch - 1
    store = Store(tmp_path)
    with pytest.raises(KeyboardInterrupt):  # after the best epoch, before the stop
        train(config=cfg(**EARLY), store=store, hooks=[StopAfter(whole.tested_epoch + 1)])
    resumed = train(config=cfg(**EARLY), store=store)
    assert resumed.resumed_from == whole.tested_epoch + 1
    assert (resumed.stopped_epoch, resumed.tested_epoch) == (
        whole.stopped_epoch,
        whole.tested_epoch,
    )
    assert resumed.test == whole.test
    row = store.get_run(whole.run_id)
    assert (row["stopped_epoch"], row["tested_epoch"]) == (whole.stopped_epoch, whole.tested_epoch)


def test_mc_signals_are_computed_when_asked():
    r = train(config=cfg(schedule="uncertainty", epochs=1, schedule_options={"signal": "ll_mutual_information"},
                         signals=("mc_variance",)))  # fmt: skip
    h = r.history[0]
    assert 0 <= h["val_ll_mutual_information"] <= 1 and 0 <= h["val_mc_variance"] <= 1
    assert h["signal"] == pytest.approx(h["val_ll_mutual_information"])


def test_failed_run_is_marked_failed(tmp_path, monkeypatch):
    store = Store(tmp_path)
    import uncertainty_lr.experiments.run as run_module

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(run_module, "train_epoch", boom)
    with pytest.raises(RuntimeError):
        train(config=cfg(), store=store)
    run = store.runs()[0]
    assert run["status"] == "failed" and run["error"] == "RuntimeError: disk on fire"


def test_bad_config_fails_before_anything_runs():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        train(config=cfg(batch_size=0))
    with pytest.raises(ValueError, match="unknown problem 'digits_cnn2'"):
        train(config=cfg(problem="digits_cnn2"))


def test_thread_setting_untouched():
    assert torch.get_num_threads() == 1


def test_train_metrics_count_only_the_examples_trained_on():
    # 1,294 digits, batch 1000: one full batch per epoch, 294 examples dropped. The epoch's
    # loss and accuracy are those of that batch under the initial weights (computed by hand).
    import torch.nn.functional as F

    from uncertainty_lr.experiments.build import build_model, load_problem_data
    from uncertainty_lr.experiments.config import resolve
    from uncertainty_lr.experiments.loop import epoch_seed

    config = cfg(schedule="constant", epochs=1, batch_size=1000, dropout=0.0)
    r = train(config=config)
    resolved = resolve(config)
    data = load_problem_data(resolved)
    model = build_model(resolved, data)
    order = torch.randperm(
        len(data.y_train), generator=torch.Generator().manual_seed(epoch_seed(0, 1))
    )
    idx = order[:1000]
    model.train()
    with torch.no_grad():
        logits = model(data.normalise(data.x_train[idx]))
    loss = F.cross_entropy(logits, data.y_train[idx]).item()
    acc = (logits.argmax(-1) == data.y_train[idx]).sum().item() / 1000
    assert r.history[0]["train_loss"] == pytest.approx(loss, rel=1e-5)
    assert r.history[0]["train_accuracy"] == acc


def test_logged_lr_is_the_mean_over_the_epochs_steps_and_its_first_step():
    import math

    # 1,294 examples, batch 64: 20 steps per epoch, 40 in all.
    steps, total, base = 20, 40, 1e-3
    cosine = [base * (1 + math.cos(math.pi * k / total)) / 2 for k in range(total)]
    r = train(config=cfg(schedule="cosine", epochs=2, lr=base))
    for e, h in enumerate(r.history):
        used = cosine[e * steps : (e + 1) * steps]
        assert h["lr"] == pytest.approx(sum(used) / steps, rel=1e-9)
        assert h["lr_first"] == pytest.approx(used[0], rel=1e-9)
    assert r.history[-1]["lr"] > 0  # not the LR after the last step (0.0)
    s = train(config=cfg(schedule="step", epochs=2, lr=base, schedule_options={"step_epochs": 1}))
    assert [h["lr"] for h in s.history] == pytest.approx([base, base * 0.1], rel=1e-9)
    assert [h["lr_first"] for h in s.history] == pytest.approx([base, base * 0.1], rel=1e-9)


def test_overconfidence_signal_is_computed_and_drives_the_anneal():
    options = {"signal": "overconfidence", "mode": "anneal", "trigger": "threshold",
               "threshold": 0.01, "patience": 1}  # fmt: skip
    r = train(config=cfg(schedule="uncertainty", epochs=6, lr=0.03, schedule_options=options))
    values = [h["val_overconfidence"] for h in r.history]
    assert [h["signal"] for h in r.history] == values and max(values) > 0.01
    first = next(i for i, v in enumerate(values) if v > 0.01)  # the decay starts after it
    assert all(h["lr"] == pytest.approx(0.03) for h in r.history[: first + 1])
    assert r.history[-1]["lr"] < 0.03


def test_an_annealing_arm_records_when_it_may_stop_and_the_others_do_not():
    options = {"signal": "overconfidence", "mode": "anneal", "trigger": "threshold",
               "threshold": 0.01, "patience": 1}  # fmt: skip
    r = train(config=cfg(schedule="uncertainty", epochs=6, lr=0.03, schedule_options=options))
    flags = [h["annealed"] for h in r.history]
    stop = flags.index(True)  # annealed at the end of this epoch: the LR is at its floor after
    assert not any(flags[:stop]) and all(flags[stop:]), flags
    assert r.history[stop]["lr"] > 0.03 * 1e-3 and stop + 1 < len(flags)
    assert all(h["lr"] == pytest.approx(0.03 * 1e-3) for h in r.history[stop + 1 :])
    for schedule, opts in (("uncertainty", {"mode": "threshold"}), ("cosine", {})):
        run = train(config=cfg(schedule=schedule, schedule_options=opts, epochs=1))
        assert "annealed" not in run.history[0]


def test_calibration_gap_signal_is_recorded_signed_and_explore_raises_the_lr_on_it():
    from uncertainty_lr.schedulers.policy import UncertaintyPolicy

    options = {"signal": "calibration_gap", "mode": "anneal", "trigger": "threshold",
               "explore": True, "threshold": 0.01, "step_size": 0.5}  # fmt: skip
    r = train(config=cfg(schedule="uncertainty", epochs=4, lr=1e-3, schedule_options=options))
    values = [h["val_calibration_gap"] for h in r.history]
    assert [h["signal"] for h in r.history] == values and min(values) < -0.01
    # each epoch's LR is the policy's answer to the signal before it, unclipped
    policy = UncertaintyPolicy([1e-3], **{k: v for k, v in options.items() if k != "signal"})
    replayed = [1e-3] + [policy.step(v)[0] for v in values[:-1]]
    assert [h["lr"] for h in r.history] == pytest.approx(replayed, rel=1e-12)
    assert r.history[-1]["lr"] > 1e-3  # the under-confident small model explored
