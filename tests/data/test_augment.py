"""Tests for uncertainty_lr.data.augment: CropFlip equals reflect-pad + crop + flip, seeded."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from uncertainty_lr.data.augment import AUGMENTATIONS, CropFlip, reflect


def reference(images: torch.Tensor, params: torch.Tensor, pad: int) -> torch.Tensor:
    """The slow, obvious way: reflect-pad, crop each image at its offset, then flip it."""
    padded = F.pad(images.float(), (pad,) * 4, mode="reflect").to(images.dtype)
    height, width = images.shape[-2:]
    out = []
    for image, (dy, dx, flip) in zip(padded, params.tolist(), strict=True):
        crop = image[:, pad + dy : pad + dy + height, pad + dx : pad + dx + width]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


def images(n: int = 32, channels: int = 3, height: int = 7, width: int = 9) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, channels, height, width), generator=g, dtype=torch.uint8)


def test_reflect_mirrors_without_repeating_the_edge():
    assert reflect(torch.arange(-2, 7), 5).tolist() == [2, 1, 0, 1, 2, 3, 4, 3, 2]


@pytest.mark.parametrize("pad", [0, 1, 2, 4])
def test_crop_flip_equals_pad_crop_flip(pad):
    x = images()
    augment = CropFlip(pad=pad)
    params = augment.draw(len(x), torch.Generator().manual_seed(1))
    out = augment(x, params)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert torch.equal(out, reference(x, params, pad))


def test_every_shift_and_flip_is_drawn_and_params_are_seeded():
    augment = CropFlip(pad=2)
    params = augment.draw(2000, torch.Generator().manual_seed(3))
    assert params.dtype == torch.int64 and params.shape == (2000, 3)
    assert set(params[:, 0].tolist()) == set(params[:, 1].tolist()) == set(range(-2, 3))
    assert set(params[:, 2].tolist()) == {0, 1}
    again = augment.draw(2000, torch.Generator().manual_seed(3))
    assert torch.equal(params, again)


def test_zero_params_leave_images_unchanged_and_layout_is_channels_last():
    x = images()
    out = CropFlip(pad=2)(x, torch.zeros(len(x), 3, dtype=torch.int64))
    assert torch.equal(out, x)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_mismatched_params_raise():
    with pytest.raises(ValueError, match="CropFlip expects images"):
        CropFlip()(images(4), torch.zeros(3, 3, dtype=torch.int64))


def test_registry_holds_airbench_crop_flip():
    assert AUGMENTATIONS["crop_flip"] == CropFlip(pad=2)
