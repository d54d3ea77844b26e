"""Tests for atomic checkpoints, weights_only refusal and RNG state round trips."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from uncertainty_lr.experiments.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def _state() -> dict:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": 3,
        "meta": {"problem": "mnist_cnn", "schedule": "cosine", "seed": 0},
        "history": [0.5, 0.4, None],
    }


class _Payload:
    """Pickles as a call to print: the kind of object weights_only must refuse."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_save_load_round_trip_is_atomic(tmp_path: Path) -> None:
    state = _state()
    path = tmp_path / "run" / "last.pt"
    save_checkpoint(path, state)
    save_checkpoint(path, state)  # overwrite in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]
    loaded = load_checkpoint(path, expected={"problem": "mnist_cnn", "schedule": "cosine"})
    assert loaded["epoch"] == 3 and loaded["history"] == [0.5, 0.4, None]
    for key, tensor in state["model"].items():
        assert torch.equal(loaded["model"][key], tensor)
    momentum = loaded["optimizer"]["state"][0]["momentum_buffer"]
    assert torch.equal(momentum, state["optimizer"]["state"][0]["momentum_buffer"])


def test_failed_save_keeps_old_file_and_leaves_no_tmp(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})

    def broken_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_save_refuses_state_weights_only_cannot_load(tmp_path: Path) -> None:
    @dataclasses.dataclass
    class Config:
        lr: float = 0.1

    with pytest.raises(ValueError, match=r"checkpoint state\['meta'\]\['cfg'\] is a .*Config"):
        save_checkpoint(tmp_path / "a.pt", {"meta": {"cfg": Config()}})
    with pytest.raises(ValueError, match=r"\['best'\] is a numpy.float64"):
        save_checkpoint(tmp_path / "a.pt", {"best": np.float64(0.5)})
    with pytest.raises(ValueError, match="checkpoint state must be a dict, got list"):
        save_checkpoint(tmp_path / "a.pt", [1, 2])
    assert not list(tmp_path.iterdir())


def test_pickle_payload_is_refused_without_running_it(tmp_path: Path, capfd) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "meta": _Payload()}, path)  # bypasses save_checkpoint's checks
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint {path} is not a plain tensor/number checkpoint")
    assert "refused by weights_only loading" in message and "print" in message
    assert "\n" not in message
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_names_the_file(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    data = path.read_bytes()
    path.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"\x00garbage" * 50, "empty": b""}[damage]
    )
    with pytest.raises(ValueError, match="truncated, corrupt or not a torch checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_mismatched_and_non_dict_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    path = tmp_path / "last.pt"
    save_checkpoint(path, _state())
    with pytest.raises(ValueError, match="is for problem mnist_cnn, not cifar10_resnet18"):
        load_checkpoint(path, expected={"problem": "cifar10_resnet18", "schedule": "cosine"})
    with pytest.raises(ValueError, match="is for schedule cosine, not step"):
        load_checkpoint(path, expected={"problem": "mnist_cnn", "schedule": "step"})
    save_checkpoint(path, {"epoch": 1})
    with pytest.raises(ValueError, match="has no 'meta' dict"):
        load_checkpoint(path, expected={"problem": "mnist_cnn"})
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="holds a list, not a dict"):
        load_checkpoint(path)


def _draws() -> tuple:
    return (
        torch.rand(5).tolist(),
        torch.randint(0, 1000, (3,)).tolist(),
        np.random.rand(3).tolist(),
        np.random.randn(3).tolist(),  # leaves a cached Gaussian: has_gauss must survive
        random.random(),
        random.gauss(0.0, 1.0),  # leaves gauss_next set
    )


def test_rng_round_trip_through_a_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    _draws()  # move every generator off its seed state, with cached Gaussians pending
    saved = rng_state()
    uninterrupted = [_draws(), _draws()]
    save_checkpoint(tmp_path / "rng.pt", {"rng": saved})
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    _draws()  # a different process history before the resume
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert [_draws(), _draws()] == uninterrupted
    assert isinstance(saved["torch"], torch.Tensor) and saved["torch"].dtype == torch.uint8
    assert set(saved) == (
        {"torch", "numpy", "python", "cuda"}
        if torch.cuda.is_available()
        else {"torch", "numpy", "python"}
    )


def test_set_rng_state_validates_and_allows_partial() -> None:
    with pytest.raises(ValueError, match=r"unknown rng state keys \['jax'\]"):
        set_rng_state({"jax": 1})
    random.seed(5)
    expected = random.random()
    random.seed(5)
    saved = rng_state()
    random.random()
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    set_rng_state({"python": saved["python"]})  # numpy untouched
    assert random.random() == expected
    assert np.array_equal(np.random.get_state()[1], before)
