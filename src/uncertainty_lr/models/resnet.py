"""ResNet-18, CIFAR variant (He et al. 2016): 3x3 stem, no max pool, BasicBlocks [2, 2, 2, 2]."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from uncertainty_lr.checks import check_int
from uncertainty_lr.models.mlp import Classifier, classifier_head


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut (1x1 conv-BN when the shape changes), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(Classifier):
    """CIFAR ResNet-18: ~11.2M parameters at width 64 with 10 classes.

    Stages of widths (w, 2w, 4w, 8w) with strides (1, 2, 2, 2); global average pool gives
    features (N, 8w); head = Dropout(p) + Linear(8w, C). Any image size >= 1 px works (the
    strided convs pad), 32x32 is what it was designed for.

    Args:
        num_classes: C, the number of logits.
        in_channels: image channels (3 for CIFAR).
        width: w, channels of the stem and first stage (default 64; tests use 4-8).
        dropout: p of the Dropout before the classifier (default 0.5).
    """

    def __init__(
        self, num_classes: int, in_channels: int, width: int = 64, dropout: float = 0.5
    ) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels)
        width = check_int("width", width)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages = []
        previous = width
        for i, stride in enumerate((1, 2, 2, 2)):
            channels = width * 2**i
            stages.append(
                nn.Sequential(
                    BasicBlock(previous, channels, stride), BasicBlock(channels, channels, 1)
                )
            )
            previous = channels
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = previous
        self.head = classifier_head(previous, num_classes, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: float (N, in_channels, H, W) -> (N, 8 * width)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ResNet18 expects inputs of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        return self.pool(self.stages(self.stem(x)))
