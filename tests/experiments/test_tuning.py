"""LR tuning: the grid, the pick on hand-made records, the stored choices, the estimate."""

from __future__ import annotations

import pytest

from uncertainty_lr.experiments.config import RunConfig, resolve, run_key
from uncertainty_lr.experiments.store import Store
from uncertainty_lr.experiments.tuning import (
    apply_tuned,
    check_disjoint,
    check_grid,
    default_grid,
    edge_text,
    edges,
    estimate_text,
    extension_configs,
    extension_lr,
    load_choices,
    pick_lr,
    save_choices,
    score_run,
    tuning_grid,
    tuning_records,
)


def rec(lr, seed, val, status="done", schedule="constant", problem="p"):
    return {"problem": problem, "schedule": schedule, "lr": lr, "seed": seed, "status": status,
            "val_accuracy": list(val)}  # fmt: skip


def test_default_grid_is_four_values_about_3x_apart():
    assert default_grid(1e-3) == [3e-4, 1e-3, 3e-3, 1e-2]
    assert default_grid(2e-5) == [6e-6, 2e-5, 6e-5, 2e-4]


@pytest.mark.parametrize(
    "lrs, message",
    [([0.0], "positive numbers, got 0.0"), ([float("nan")], "positive numbers"),
     ([1e-3, 1e-3], "listed twice"), ([], "at least one")],
)  # fmt: skip
def test_bad_grid_is_refused(lrs, message):
    with pytest.raises(ValueError, match=message):
        check_grid(lrs)


def test_highest_mean_validation_score_wins():
    records = [rec(1e-3, 0, [0.5, 0.80]), rec(1e-3, 1, [0.5, 0.82]),
               rec(3e-3, 0, [0.6, 0.90]), rec(3e-3, 1, [0.6, 0.84]),
               rec(1e-2, 0, [0.7, 0.86]), rec(1e-2, 1, [0.7, 0.86])]  # fmt: skip
    choice = pick_lr(records)[("p", "constant")]
    assert choice.lr == 3e-3  # mean 0.87 against 0.81 and 0.86
    assert choice.seeds == [0, 1]
    assert choice.mean[1e-3] == pytest.approx(0.81)
    assert choice.scores[3e-3] == [0.90, 0.84]


def test_ties_go_to_the_smaller_lr():
    records = [rec(lr, s, [0.9]) for lr in (1e-2, 3e-3, 1e-3) for s in (0, 1)]
    assert pick_lr(records)[("p", "constant")].lr == 1e-3
    # equal means from different seed values are a tie too
    records = [rec(1e-2, 0, [0.8]), rec(1e-2, 1, [0.9]), rec(3e-3, 0, [0.9]), rec(3e-3, 1, [0.8])]
    assert pick_lr(records)[("p", "constant")].lr == 3e-3


def test_a_diverged_run_never_wins():
    # 1e-2 has the best numbers on both seeds, but one of its seeds diverged
    records = [rec(1e-2, 0, [0.99]), rec(1e-2, 1, [0.98, 0.99], status="diverged"),
               rec(1e-3, 0, [0.7]), rec(1e-3, 1, [0.7])]  # fmt: skip
    choice = pick_lr(records)[("p", "constant")]
    assert choice.lr == 1e-3
    assert choice.mean[1e-2] is None and choice.scores[1e-2] == [0.99, None]


def test_no_choice_when_every_lr_fails_or_is_missing_a_seed():
    records = [rec(1e-2, 0, [0.9], status="failed"), rec(1e-3, 0, [0.9]),
               rec(1e-3, 1, [None, float("nan")])]  # fmt: skip
    assert pick_lr(records)[("p", "constant")].lr is None


def test_final_and_best_validation_accuracy_differ():
    records = [rec(1e-3, 0, [0.95, 0.70]), rec(1e-2, 0, [0.80, 0.85])]
    assert pick_lr(records, "final")[("p", "constant")].lr == 1e-2
    assert pick_lr(records, "best")[("p", "constant")].lr == 1e-3
    assert score_run("done", [0.5, None, 0.6], "final") == 0.6
    with pytest.raises(ValueError, match="select must be one of final, best; got 'last'"):
        pick_lr(records, "last")


def test_arms_are_chosen_independently():
    records = [rec(1e-3, 0, [0.9], schedule="a"), rec(1e-2, 0, [0.8], schedule="a"),
               rec(1e-3, 0, [0.8], schedule="b"), rec(1e-2, 0, [0.9], schedule="b")]  # fmt: skip
    choices = pick_lr(records)
    assert [(key, c.lr) for key, c in choices.items()] == [(("p", "a"), 1e-3), (("p", "b"), 1e-2)]


def _tuning_run(store, lr, seed, val, test_accuracy):
    config = {"problem": "digits_mlp", "schedule": "cosine", "seed": seed, "lr": lr,
              "lr_source": "tuning", "epochs": len(val)}  # fmt: skip
    run_id = Store.run_id("digits_mlp", "cosine", seed, config)
    store.start_run(run_id, problem="digits_mlp", schedule="cosine", seed=seed, config=config)
    for epoch, value in enumerate(val, 1):
        store.log_epoch(run_id, epoch, {"val_accuracy": value, "test_accuracy": test_accuracy})
    store.finish_run(run_id, "done", test={"accuracy": test_accuracy})


@pytest.mark.parametrize("garbage", [False, True])
def test_choice_reads_no_test_metric(tmp_path, garbage):
    """Test metrics that favour the other LR (or are garbage) change no choice."""
    with Store(tmp_path) as store:
        for seed in (100, 101):
            _tuning_run(store, 1e-3, seed, [0.7, 0.9], -5.0 if garbage else 0.1)
            _tuning_run(store, 1e-2, seed, [0.8, 0.85], 123.0 if garbage else 0.99)
        records = tuning_records(store)
    assert all(set(r) == {"problem", "schedule", "lr", "seed", "status", "val_accuracy"} for r in records)  # fmt: skip
    assert pick_lr(records)[("digits_mlp", "cosine")].lr == 1e-3


def test_choices_round_trip_through_the_store(tmp_path):
    records = [rec(1e-3, 100, [0.8]), rec(1e-2, 100, [0.9], status="diverged")]
    with Store(tmp_path) as store:
        save_choices(store, pick_lr(records, "best").values())
        assert list(store.meta("tuned_lr:")) == ["tuned_lr:p:constant"]
        loaded = load_choices(store)
    item = loaded[("p", "constant")]
    assert item["lr"] == 1e-3 and item["select"] == "best" and item["seeds"] == [100]
    assert item["scores"] == [[1e-3, [0.8]], [1e-2, [None]]]


def test_store_meta_refuses_the_schema_version(tmp_path):
    with Store(tmp_path) as store, pytest.raises(ValueError, match="schema_version"):
        store.set_meta("schema_version", "9")


def test_tuning_grid_gives_every_arm_the_same_lrs_and_seeds():
    base = RunConfig(epochs=1)
    configs = tuning_grid(["digits_mlp"], ["constant", "uncertainty:mode=band"], [100, 101], base)
    assert len(configs) == 2 * 2 * 4
    assert {c.lr_source for c in configs} == {"tuning"}
    for schedule in ("constant", "uncertainty"):
        pairs = sorted((c.seed, c.lr) for c in configs if c.schedule == schedule)
        assert pairs == sorted((s, lr) for s in (100, 101) for lr in (3e-4, 1e-3, 3e-3, 1e-2))
    given = resolve(RunConfig(epochs=1, lr=1e-3, seed=100))
    assert run_key(given) != run_key(configs[1])  # a tuning run is never a comparison run
    custom = tuning_grid(["digits_mlp"], ["constant"], [100], RunConfig(epochs=1), lrs=[0.1, 0.01])
    assert [c.lr for c in custom] == [0.01, 0.1]


def test_apply_tuned_uses_the_stored_lr_and_refuses_untuned_arms():
    configs = [resolve(RunConfig(schedule="cosine", epochs=1, seed=0))]
    tuned = apply_tuned(configs, {("digits_mlp", "cosine"): {"lr": 0.003}})
    assert tuned[0].lr == 0.003 and tuned[0].lr_source == "tuned"
    with pytest.raises(ValueError, match="arm digits_mlp / cosine has not been tuned"):
        apply_tuned(configs, {})
    with pytest.raises(ValueError, match="has no tuned LR"):
        apply_tuned(configs, {("digits_mlp", "cosine"): {"lr": None}})


def test_lr_source_is_checked():
    with pytest.raises(ValueError, match="lr_source must be one of given, tuning, tuned; got 'x'"):
        resolve(RunConfig(lr_source="x"))


def test_overlapping_seeds_are_refused():
    check_disjoint([100, 101], [0, 1, 2])
    with pytest.raises(ValueError, match=r"disjoint from the comparison seeds; both use \[1\]"):
        check_disjoint([1, 100], [0, 1, 2])


def test_estimate_from_finished_runs_or_unknown():
    configs = tuning_grid(["digits_mlp"], ["constant"], [100], RunConfig(epochs=2), lrs=[1e-3])
    assert "unknown" in estimate_text(configs, [])
    runs = [{"run_id": "x", "problem": "digits_mlp", "status": "done", "wall_time": 30.0,
             "epochs_done": 3}]  # fmt: skip
    text = estimate_text(configs, runs)
    assert text.startswith("1 runs in the grid, 1 to train (2 epochs); estimate 0.3 min")


def test_a_pick_at_the_grid_s_edge_is_named():
    top = pick_lr([rec(lr, 0, [acc]) for lr, acc in ((1e-3, 0.8), (3e-3, 0.85), (1e-2, 0.9))])
    top = top[("p", "constant")]
    assert top.lr == 1e-2 and edges(top) == ("high",)
    assert edge_text(top).startswith("at the grid's edge (the largest LR tried)")
    low = pick_lr([rec(1e-3, 0, [0.9]), rec(3e-3, 0, [0.8]), rec(1e-2, 0, [0.1], "diverged")])
    assert edges(low[("p", "constant")]) == ("low",)
    inner = pick_lr([rec(1e-3, 0, [0.8]), rec(3e-3, 0, [0.9]), rec(1e-2, 0, [0.85])])
    assert edges(inner[("p", "constant")]) == () and edge_text(inner[("p", "constant")]) == ""
    # the grid's top diverged: the pick below it is interior, the top bounds it
    capped = pick_lr([rec(1e-3, 0, [0.8]), rec(3e-3, 0, [0.9]), rec(1e-2, 0, [0.1], "diverged")])
    assert edges(capped[("p", "constant")]) == ()
    single = pick_lr([rec(1e-3, 0, [0.8])])[("p", "constant")]
    assert edges(single) == ("low", "high")


def test_extension_steps_one_factor_beyond_the_edge_on_every_tuning_seed():
    base = RunConfig(problem="digits_mlp", epochs=1)
    configs = tuning_grid(["digits_mlp"], ["constant", "cosine"], [100, 101], base, [1e-3, 1e-2])
    records = [rec(c.lr, c.seed, [0.9 if c.lr == 1e-2 else 0.8], schedule=c.schedule,
                   problem="digits_mlp") for c in configs if c.schedule == "constant"]  # fmt: skip
    records += [rec(c.lr, c.seed, [0.9 if c.lr == 1e-3 else 0.8], schedule="cosine",
                    problem="digits_mlp") for c in configs if c.schedule == "cosine"]  # fmt: skip
    choices = pick_lr(records)
    assert extension_lr(choices[("digits_mlp", "constant")], "high") == 0.03
    assert extension_lr(choices[("digits_mlp", "cosine")], "low") == 0.000333
    more = extension_configs(choices, configs)
    got = sorted((c.schedule, c.seed, c.lr, c.lr_source) for c in more)
    assert got == [("constant", 100, 0.03, "tuning"), ("constant", 101, 0.03, "tuning"),
                   ("cosine", 100, 0.000333, "tuning"), ("cosine", 101, 0.000333, "tuning")]  # fmt: skip
