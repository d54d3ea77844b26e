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
