"""checks: one ValueError line naming the value and what is allowed; booleans are not numbers."""

import math

import numpy as np
import pytest

from uncertainty_lr.checks import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_text,
    check_type,
    in_interval,
    interval_words,
    is_int,
    is_number,
)


def test_predicates_refuse_booleans_and_non_finite_numbers():
    assert is_int(3) and not is_int(True) and not is_int(3.0)
    assert is_number(0.5) and is_number(2) and not is_number(False)
    assert not is_number(math.nan) and not is_number(math.inf) and not is_number("1")


@pytest.mark.parametrize(("call", "message"), [
    (lambda: check_int("epochs", 0), "epochs must be a positive integer, got 0"),
    (lambda: check_int("epochs", True), "epochs must be a positive integer, got True"),
    (lambda: check_int("seed", -1, 0), "seed must be a non-negative integer, got -1"),
    (lambda: check_int("n", 2, 3), "n must be an integer >= 3, got 2"),
    (lambda: check_int("early_stopping", 1.5, 0, why=" (patience; 0 = off)"),
     "early_stopping must be a non-negative integer (patience; 0 = off), got 1.5"),
    (lambda: check_int("train_size", None), "train_size must be a positive integer, got None"),
    (lambda: check_number("lr", 0), "lr must be a positive number, got 0"),
    (lambda: check_number("lr", math.nan), "lr must be a positive number, got nan"),
    (lambda: check_number("weight_decay", -1e-4, closed="[)"),
     "weight_decay must be a non-negative number, got -0.0001"),
    (lambda: check_number("dropout", 1.0, 0.0, 1.0, "[)"), "dropout must be a number in [0, 1), got 1.0"),
    (lambda: check_number("val_fraction", 0.0, 0.0, 1.0), "val_fraction must be a number in (0, 1), got 0.0"),
    (lambda: check_choice("optimizer", "lamb", ("adam", "sgd")), "optimizer must be one of adam, sgd; got 'lamb'"),
])  # fmt: skip
def test_bad_values_name_the_value_and_what_is_allowed(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_good_values_come_back_unchanged():
    assert check_int("epochs", 3) == 3 and check_int("train_size", None, optional=True) is None
    assert check_int("seed", 0, 0) == 0
    assert check_number("weight_decay", 0, closed="[)") == 0
    assert check_number("dropout", 0.0, 0.0, 1.0, "[)") == 0.0
    assert check_number("x", 1.0, 0.0, 1.0, "(]") == 1.0
    assert check_choice("optimizer", "adam", ("adam",)) == "adam"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: check_int("pad_id", 10, 0, 9), "pad_id must be an integer in [0, 9], got 10"),
    (lambda: check_number("target", math.inf, -math.inf, math.inf), "target must be a finite number, got inf"),
    (lambda: check_bool("bidirectional", 1), "bidirectional must be true or false, got 1"),
    (lambda: check_text("command", "", optional=True), "command must be a non-empty string, got ''"),
    (lambda: check_type("config", [1], dict, "a dict"), "config must be a dict, got list"),
    (lambda: check_int("n_boot", np.int64(0), numpy=True), "n_boot must be a positive integer, got np.int64(0)"),
])  # fmt: skip
def test_the_other_checks_say_it_the_same_way(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message.replace("np.int64(0)", repr(np.int64(0)))


def test_numpy_scalars_pass_only_when_asked():
    assert check_int("seed", np.int64(3), 0, numpy=True) == 3
    assert check_number("confidence", np.float32(0.5), 0.0, 1.0, numpy=True) == 0.5
    assert not is_int(np.int64(3)) and is_int(np.int64(3), numpy=True)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        check_int("seed", np.int64(3), 0)


def test_an_infinite_value_passes_only_as_a_closed_end():
    assert in_interval(math.inf, 0.0, math.inf, "[]")
    assert not in_interval(math.inf, 0.0, math.inf, "[)")
    assert not in_interval(math.nan, -math.inf, math.inf, "[]")
    assert interval_words(0.0, 1.0, "(]") == "a number in (0, 1]"
    assert check_bool("explore", False) is False and check_text("name", "x") == "x"
    assert check_type("state", {}, dict, "a dict") == {}
