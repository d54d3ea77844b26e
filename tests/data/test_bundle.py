"""DataBundle.normalise / sizes and channel_stats, checked against numpy by hand."""

import numpy as np
import pytest
import torch

from uncertainty_lr.data import DataBundle, channel_stats


def make_bundle(kind="image", channels=2):
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, channels, 3, 3), dtype=torch.uint8, generator=gen)
    if kind == "text":
        x = torch.randint(1, 50, (6, 5), generator=gen)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    mean, std = channel_stats(x) if kind == "image" else ((), ())
    return DataBundle(
        name="toy", kind=kind, x_train=x[:4], y_train=y[:4], x_val=x[4:5], y_val=y[4:5],
        x_test=x[5:], y_test=y[5:], num_classes=2, class_names=["a", "b"], mean=mean, std=std,
    )  # fmt: skip


def test_channel_stats_match_numpy():
    x = torch.randint(
        0, 256, (7, 3, 4, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    mean, std = channel_stats(x, chunk=3)  # chunking must not change the result
    pixels = x.numpy().astype(np.float64).transpose(1, 0, 2, 3).reshape(3, -1) / 255
    np.testing.assert_allclose(mean, pixels.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(std, pixels.std(axis=1), rtol=1e-9)


def test_channel_stats_constant_channel_gets_unit_std():
    x = torch.full((2, 1, 2, 2), 51, dtype=torch.uint8)
    mean, std = channel_stats(x)
    assert mean == pytest.approx((0.2,)) and std == (1.0,)


def test_channel_stats_rejects_float_and_empty():
    with pytest.raises(ValueError, match="channel_stats expects uint8 images"):
        channel_stats(torch.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="at least one image"):
        channel_stats(torch.zeros(0, 1, 2, 2, dtype=torch.uint8))


def test_normalise_images_by_hand():
    bundle = make_bundle()
    batch = bundle.x_train[:2]
    out = bundle.normalise(batch)
    assert out.dtype == torch.float32 and out.shape == batch.shape
    expected = (batch[:, 1].double() / 255 - bundle.mean[1]) / bundle.std[1]
    torch.testing.assert_close(out[:, 1].double(), expected, rtol=1e-5, atol=1e-5)
    # A single image (C, H, W) broadcasts the same way.
    torch.testing.assert_close(bundle.normalise(batch[0]), out[0])


def test_normalise_rejects_wrong_dtype_and_channels():
    bundle = make_bundle()
    with pytest.raises(ValueError, match="normalise expects uint8 images, got torch.float32"):
        bundle.normalise(bundle.x_train.float())
    with pytest.raises(ValueError, match=r"shaped \(\.\.\., 2, H, W\)"):
        bundle.normalise(torch.zeros(1, 3, 3, 3, dtype=torch.uint8))


def test_normalise_text_is_identity_and_sizes():
    bundle = make_bundle("text")
    assert bundle.normalise(bundle.x_train) is bundle.x_train
    assert bundle.sizes() == {"train": 4, "val": 1, "test": 1}


def test_bad_kind_rejected():
    with pytest.raises(ValueError, match="kind must be 'image' or 'text', got 'audio'"):
        DataBundle("x", "audio", *(torch.zeros(1),) * 6, 1, ["a"], (), ())
