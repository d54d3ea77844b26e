"""Models: name -> nn.Module with `features(x) -> (N, D)`, `head(f) -> (N, C)` logits.

Every model satisfies `model(x) == model.head(model.features(x))`, and `model.head` is
`nn.Sequential(nn.Dropout(p), nn.Linear(D, C))`, so last-layer MC dropout can rerun the head
alone. Inputs: float images (N, C, H, W), already normalised, or int64 token ids (N, L)
padded on the right with `pad_id`.

    model = build_model("cnn", num_classes=10, in_channels=1, image_size=28)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from torch import nn

from uncertainty_lr.checks import check_int, check_number
from uncertainty_lr.models.airbench import AirbenchNet
from uncertainty_lr.models.bert import BertClassifier, MissingDependencyError, build_bert
from uncertainty_lr.models.cnn import SmallCNN
from uncertainty_lr.models.mlp import MLP, Classifier, ImageClassifier, classifier_head, pair
from uncertainty_lr.models.resnet import ResNet18
from uncertainty_lr.models.text import LSTMClassifier, TransformerClassifier
from uncertainty_lr.models.vgg import VGG16
from uncertainty_lr.problems import has_feature_dropout

__all__ = [
    "MLP",
    "AirbenchNet",
    "MODELS",
    "BertClassifier",
    "Classifier",
    "ImageClassifier",
    "LSTMClassifier",
    "MissingDependencyError",
    "ResNet18",
    "SmallCNN",
    "TransformerClassifier",
    "VGG16",
    "InputShape",
    "build_model",
    "classifier_head",
    "has_feature_dropout",
]

#: name -> one-line description.
MODELS: dict[str, str] = {
    "mlp": "flatten -> Linear(256) -> ReLU -> head; for 8x8 digits",
    "cnn": "small CPU CNN: 3-4 x [conv3x3-BN-ReLU-maxpool] (24-48-96[-192]) -> Linear(256)-BN-ReLU -> head",
    "resnet18": "CIFAR ResNet-18 (3x3 stem, no max pool, BasicBlock [2,2,2,2], widths 64-512), ~11.2M params",
    "vgg16": "CIFAR VGG-16 with BatchNorm (13 convs, 5 pools, global pool), ~14.7M params",
    "airbench": "airbench-style net: 2x2 stem, 3 x [conv-pool-BN-GELU-conv-BN-GELU] (64-256-256), logits / 9, ~2.0M params",
    "lstm": "Embedding(128) -> biLSTM(128) over packed sequences -> masked mean -> head",
    "transformer": "Embedding + learned positions -> 2-layer pre-norm encoder (d 128, 4 heads) -> masked mean -> head",
    "bert": "Hugging Face BERT (pretrained folder / hub id, or a tiny BertConfig) -> [CLS] -> head",
}

#: name -> the model-specific keyword options build_model accepts for it.
OPTIONS: dict[str, tuple[str, ...]] = {
    "mlp": ("hidden_dim",),
    "cnn": ("channels", "hidden_dim"),
    "resnet18": ("width",),
    "vgg16": ("width_mult",),
    "airbench": ("width", "logit_scale"),
    "lstm": ("embed_dim", "hidden_dim", "layers", "bidirectional"),
    "transformer": ("d_model", "heads", "layers", "ff_dim", "encoder_dropout"),
    "bert": ("pretrained", "bert_config", "local_files_only"),
}


def _require(name: str, **values: Any) -> None:
    """ValueError naming the first of `values` that is None (a size `name` cannot do without)."""
    for key, value in values.items():
        if value is None:
            raise ValueError(f"model {name!r} needs {key}, got None")


@dataclass(frozen=True)
class InputShape:
    """What a model needs to know of its inputs, from the data: ``in_channels`` and
    ``image_size`` (an int or (H, W)) of images; ``vocab_size``, ``pad_id`` (default 0) and
    ``max_length`` of token ids. None: not known (a model that needs it refuses)."""

    in_channels: int | None = None
    image_size: int | tuple[int, int] | None = None
    vocab_size: int | None = None
    pad_id: int = 0
    max_length: int | None = None


def build_model(
    name: str,
    shape: InputShape | None = None,
    *,
    num_classes: int,
    dropout: float = 0.5,
    **options: Any,
) -> nn.Module:
    """Build the model called `name` (a key of MODELS), randomly initialised from torch's RNG.

    Sizes a model does not use are ignored (a CNN ignores vocab_size), so a caller can pass
    every size it knows. Required: in_channels + image_size for mlp, cnn, vgg16, airbench (resnet18
    needs only in_channels); vocab_size for lstm, transformer; max_length for transformer.

    Args:
        shape: the input sizes (`InputShape`); its fields may be given by name instead
            (``in_channels=1, image_size=8``), over it.
        num_classes: number of logits C (>= 2).
        dropout: p of the Dropout before the classifier, in [0, 1) (default 0.5).
        **options: the shape's fields by name, and model-specific settings, see OPTIONS
            (e.g. width=8 for resnet18).
    Raises:
        ValueError: unknown name or option, or a missing / bad size.
    """
    given = {f.name: options.pop(f.name) for f in fields(InputShape) if f.name in options}
    shape = replace(shape or InputShape(), **given)
    in_channels, image_size, vocab_size = shape.in_channels, shape.image_size, shape.vocab_size
    pad_id, max_length = shape.pad_id, shape.max_length
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    check_int("num_classes", num_classes, 2)
    check_number("dropout", dropout, 0.0, 1.0, "[)")
    unknown = sorted(set(options) - set(OPTIONS[name]))
    if unknown:
        allowed = ", ".join(OPTIONS[name]) or "none"
        raise ValueError(
            f"unknown option(s) for {name!r}: {', '.join(unknown)}; allowed: {allowed}"
        )
    if name in ("mlp", "cnn", "vgg16", "airbench"):
        _require(name, in_channels=in_channels, image_size=image_size)
        cls = {"mlp": MLP, "cnn": SmallCNN, "vgg16": VGG16, "airbench": AirbenchNet}[name]
        return cls(num_classes, in_channels, image_size, dropout=dropout, **options)
    if name == "resnet18":
        _require(name, in_channels=in_channels)
        if image_size is not None:
            pair(image_size)  # not needed to build, but a bad value is still a caller bug
        return ResNet18(num_classes, in_channels, dropout=dropout, **options)
    if name == "lstm":
        _require(name, vocab_size=vocab_size)
        return LSTMClassifier(num_classes, vocab_size, pad_id, dropout=dropout, **options)
    if name == "transformer":
        _require(name, vocab_size=vocab_size, max_length=max_length)
        return TransformerClassifier(
            num_classes, vocab_size, max_length, pad_id, dropout=dropout, **options
        )
    return build_bert(num_classes, vocab_size, pad_id, max_length, dropout, **options)
