"""An airbench-style CIFAR network: a 2x2 stem and three conv-pool-BN-GELU groups.

After Keller Jordan's airbench94 (94 % on CIFAR-10 in seconds on one GPU), kept to what
fits the harness: no whitening layer (its weights come from the training data, which a
model here never sees), a plain Dropout + Linear head, and the optimizer and schedule left
to the run. What is kept: the layout and widths (w, 4w, 4w), BatchNorm without a learned
scale and with fast running statistics (momentum 0.4), identity ("dirac") initialisation
of the 3x3 convolutions, and the down-scaled logits.
"""

from __future__ import annotations

import torch
from torch import nn

from uncertainty_lr.checks import check_int, check_number
from uncertainty_lr.models.mlp import ImageClassifier, classifier_head

#: Running-statistics momentum of every BatchNorm: airbench's 0.6 in its own convention,
#: 0.4 in torch's. With ~40 steps an epoch the statistics must follow fast-moving weights.
BN_MOMENTUM = 0.4
#: The smallest side the net accepts: the 2x2 stem takes one pixel, three pools halve it.
MIN_IMAGE_SIZE = 9


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with its scale fixed at 1 (not trained) and a trained bias, as in airbench.

    Every convolution feeds one, so a convolution's output scale is set by the
    normalisation alone and a learned scale would add nothing but a parameter.
    """
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=BN_MOMENTUM)
    norm.weight.requires_grad_(False)
    return norm


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 'same' convolution whose first ``in_channels`` filters start as the identity.

    The identity start makes each group an implicit residual block at initialisation,
    which airbench's ablations credit with reaching 94 % in fewer epochs.
    """
    conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(in_channels, out_channels)])
    return conv


class ConvGroup(nn.Module):
    """conv3x3 -> MaxPool(2) -> BN -> GELU -> conv3x3 -> BN -> GELU; halves H and W."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = batch_norm(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.norm2 = batch_norm(out_channels)
        self.activation = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.norm1(self.pool(self.conv1(x))))
        return self.activation(self.norm2(self.conv2(x)))


class AirbenchNet(ImageClassifier):
    """~2.0M parameters at width 64 with 10 classes; features (N, 4 * width).

    Stem: conv 2x2 (no padding, 2 * in_channels * 4 = 24 channels for RGB) -> BN -> GELU;
    then ConvGroups of widths (w, 4w, 4w); a global max pool (airbench's MaxPool(3) on
    32x32 inputs, where the map is 3x3); features times ``logit_scale``; head Dropout(p) +
    Linear. Scaling the features scales the logits the head starts from (airbench: 1/9),
    so the first steps see near-uniform predictions.

    Args (besides those of every `ImageClassifier`; H and W at least 9, dropout default 0):
        width: w (default 64, airbench's; tests use 4-8).
        logit_scale: factor on the features (default 1/9).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int | tuple[int, int],
        width: int = 64,
        logit_scale: float = 1 / 9,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        in_channels, height, wide = self.in_shape
        if min(height, wide) < MIN_IMAGE_SIZE:
            raise ValueError(
                f"airbench needs images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} px, "
                f"got {height}x{wide}"
            )
        width = check_int("width", width)
        check_number("logit_scale", logit_scale)
        self.logit_scale = float(logit_scale)
        stem_channels = 2 * in_channels * 4
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 2, padding=0, bias=False),
            batch_norm(stem_channels),
            nn.GELU(),
        )
        widths = (width, 4 * width, 4 * width)
        self.groups = nn.Sequential(
            ConvGroup(stem_channels, widths[0]),
            ConvGroup(widths[0], widths[1]),
            ConvGroup(widths[1], widths[2]),
        )
        self.pool = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.feature_dim = widths[2]
        self.head = classifier_head(widths[2], num_classes, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (N, C, H, W) matching in_shape -> (N, 4 * width)."""
        return self.pool(self.groups(self.stem(self.check_shape(x)))) * self.logit_scale
