"""The shared classifier contract (`Classifier`, `classifier_head`) and the MLP.

Every model in this package is a `Classifier`: `features(x) -> (N, D)`, `head(f) -> (N, C)`
logits, and `forward(x) == head(features(x))`. The split lets last-layer MC dropout run the
(cheap) head many times over one pass of the (expensive) feature extractor.
"""

from __future__ import annotations

import torch
from torch import nn

from uncertainty_lr.checks import check_int, check_list, is_int


def classifier_head(in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Dropout(p=dropout) then Linear(in_features, num_classes): the head every model uses."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_classes))


def pair(size: int | tuple[int, int], name: str = "image_size") -> tuple[int, int]:
    """An int or (H, W) pair of positive ints -> (H, W); anything else -> ValueError."""
    if is_int(size):
        return check_int(name, size), size
    check_list(name, size, int, "a positive integer or a pair (H, W) of them",
               length=2, low=1)  # fmt: skip
    return int(size[0]), int(size[1])


class Classifier(nn.Module):
    """Base class: subclasses define `features(x) -> (N, D)` and set `self.head`.

    `feature_dim` (D) and `num_classes` (C) are plain ints so callers can build their own
    heads or probes without running a forward pass.
    """

    feature_dim: int
    num_classes: int
    head: nn.Sequential

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define features(x)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, C) = head(features(x))."""
        return self.head(self.features(x))


class ImageClassifier(Classifier):
    """A Classifier of float images of one shape, ``in_shape`` = (in_channels, H, W).

    Every image model takes ``num_classes`` (C, the number of logits), then ``in_channels``
    and ``image_size`` (an int or (H, W)), then its own options, and last ``dropout``, the
    p of the Dropout before the classifier (default 0.5 unless the model says otherwise).
    """

    def __init__(
        self, num_classes: int, in_channels: int, image_size: int | tuple[int, int]
    ) -> None:
        super().__init__()
        height, width = pair(image_size)
        self.in_shape = (check_int("in_channels", in_channels), height, width)
        self.num_classes = num_classes

    def check_shape(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` if it is (N, *in_shape); else ValueError naming the model."""
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (N, *{self.in_shape}), "
                f"got {tuple(x.shape)}"
            )
        return x


class MLP(ImageClassifier):
    """Flatten -> Linear(C*H*W, hidden_dim) -> ReLU -> head. Sized for sklearn digits (1x8x8).

    Args (besides those of every `ImageClassifier`):
        hidden_dim: width of the single hidden layer (default 256); also the feature dim D.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int | tuple[int, int],
        hidden_dim: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        _, height, width = self.in_shape
        self.feature_dim = check_int("hidden_dim", hidden_dim)
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(in_channels * height * width, hidden_dim), nn.ReLU()
        )
        self.head = classifier_head(hidden_dim, num_classes, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (N, C, H, W) matching in_shape -> (N, hidden_dim)."""
        return self.body(self.check_shape(x))
