"""UncertaintyOptions: the policy's options, defined once with defaults and ranges."""

import dataclasses

import pytest

from uncertainty_lr.schedulers.options import Option, UncertaintyOptions, check_options


def test_defaults_are_the_study_plan():
    o = UncertaintyOptions()
    assert (o.threshold, o.step_size, o.mode, o.reference) == (0.05, 0.1, "threshold", "absolute")
    assert o.min_lr is None and o.max_lr is None


def test_every_field_has_its_range_and_the_table_lists_them_in_order():
    names = [f.name for f in dataclasses.fields(UncertaintyOptions)]
    assert list(UncertaintyOptions.table()) == names
    assert all(isinstance(spec, Option) for spec in UncertaintyOptions.table().values())


@pytest.mark.parametrize(
    "options, message",
    [
        ({"step_size": 0}, "step_size must be a number in (0, 1), got 0"),
        ({"reference_steps": 0}, "reference_steps must be a positive integer, got 0"),
        ({"cooldown": True}, "cooldown must be a non-negative integer, got True"),
        ({"min_lr": "small"}, "min_lr must be a number > 0 or a list of them (one per parameter group), got 'small'"),
        ({"threshhold": 0.1}, "unknown option(s) threshhold for UncertaintyLR; allowed: band_width"),
    ],
)  # fmt: skip
def test_bad_values_name_what_is_allowed(options, message):
    with pytest.raises(ValueError) as err:
        UncertaintyOptions.from_mapping(options)
    assert str(err.value).startswith(message)


def test_check_options_fills_defaults_and_qualifies_names():
    table = {"gamma": Option(0.1, low=0.0, high=1.0, closed="(]")}
    assert check_options("schedule 'step'", {}, table) == {"gamma": 0.1}
    with pytest.raises(ValueError, match=r"^gamma of schedule 'step' must be a number in \(0, 1\]"):
        check_options("schedule 'step'", {"gamma": 0.0}, table)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mode": "threshold", "patience": 3}, "patience=3 does nothing in mode 'threshold'; it is read with mode='anneal'"),
        ({"mode": "threshold", "decay_ratio": 1.0}, "decay_ratio=1.0 does nothing in mode 'threshold'"),
        ({"mode": "threshold", "trigger": "threshold"}, "trigger='threshold' does nothing in mode 'threshold'"),
        ({"mode": "proportional", "step_size": 0.2}, "step_size=0.2 does nothing in mode 'proportional' with explore=False; it is read with mode='threshold' or 'band', or explore=True"),
        ({"mode": "band", "tolerance": 0.1}, "tolerance=0.1 does nothing in mode 'band'"),
        ({"mode": "anneal", "threshold": 0.1}, "threshold=0.1 does nothing in mode 'anneal' with trigger='stall'; it is read with mode='threshold' or 'band' or 'proportional' or 'cycle', or trigger='threshold'"),
        ({"mode": "anneal", "trigger": "threshold", "step_size": 0.3}, "step_size=0.3 does nothing in mode 'anneal' with explore=False"),
        ({"mode": "anneal", "band_width": 0.2}, "band_width=0.2 does nothing in mode 'anneal'; it is read with mode='band'"),
    ],
)  # fmt: skip
def test_an_option_the_mode_does_not_read_is_an_error_naming_it_and_the_mode(options, message):
    with pytest.raises(ValueError) as err:
        UncertaintyOptions.from_mapping(options)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="does nothing in mode"):
        UncertaintyOptions(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"mode": "threshold", "patience": 2, "trigger": "stall"},  # defaults: not given
        {"mode": "anneal", "trigger": "threshold", "threshold": 0.1},
        {"mode": "anneal", "trigger": "threshold", "explore": True, "step_size": 0.3},
        {"mode": "band", "threshold": 0.2, "step_size": 0.3, "band_width": 0.2},
        {"mode": "proportional", "threshold": 0.2, "warmup": 2, "reference_steps": 3},
    ],
)
def test_options_the_mode_reads_and_defaults_are_accepted(options):
    assert UncertaintyOptions(**options).mode == options["mode"]


def test_saved_options_the_mode_never_read_load_at_their_defaults():
    saved = {**UncertaintyOptions().to_dict(), "patience": 5, "trigger": "threshold"}
    o = UncertaintyOptions.read_only(saved)
    assert (o.mode, o.patience, o.trigger) == ("threshold", 2, "stall")
    with pytest.raises(ValueError, match="unknown option"):
        UncertaintyOptions.read_only({"thresold": 0.1})
