"""Problems, named ``{dataset}_{model}`` as in DeepOBS, with CPU-sized defaults.

Each problem fixes its dataset, model and the settings a run inherits unless the user
overrides them. ``STUDY_PRESET`` holds the study plan's full settings (``--preset study``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The study plan: Adam, lr 1e-3, batch 64, 50 epochs, dropout 0.5, weight decay 1e-4,
#: early stopping with patience 5 (the plan's code).
STUDY_PRESET = {
    "optimizer": "adam",
    "lr": 1e-3,
    "batch_size": 64,
    "epochs": 50,
    "dropout": 0.5,
    "weight_decay": 1e-4,
    "train_size": None,
    "val_size": None,
    "test_size": None,
    "early_stopping": 5,
}


#: Classes of each built-in dataset (its labels are 0..C-1): chance accuracy is 1/C. A run
#: records the C of the data it loaded; the report falls back on this for runs that do not.
DATASET_CLASSES = {"digits": 10, "mnist": 10, "cifar10": 10, "imdb": 2}


@dataclass(frozen=True)
class Problem:
    """A dataset + model pair, the run settings it defaults to, and its augmentation.

    The augmentation is part of the problem (as in DeepOBS), not a run setting: ``augment``
    names what the loop does to each training batch (a key of
    ``data.augment.AUGMENTATIONS``; None = nothing).
    """

    name: str
    dataset: str
    model: str
    description: str
    defaults: dict = field(default_factory=dict)
    augment: str | None = None

    @property
    def classes(self) -> int:
        """Number of classes of the problem's built-in dataset."""
        return DATASET_CLASSES[self.dataset]


def _p(dataset: str, model: str, description: str, **defaults) -> Problem:
    return Problem(f"{dataset}_{model}", dataset, model, description, defaults)


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        _p("digits", "mlp", "scikit-learn's 8x8 digits (1,797 images, embedded), MLP", epochs=15, batch_size=64),
        _p("mnist", "cnn", "MNIST 28x28 digits, small CNN", epochs=5, train_size=10000, test_size=5000),
        _p("cifar10", "cnn", "CIFAR-10 32x32 colour images, small CNN", epochs=10, train_size=10000, test_size=5000),
        _p("cifar10", "resnet18", "CIFAR-10, ResNet-18 (CIFAR variant)", epochs=30, batch_size=128),
        _p("cifar10", "vgg16", "CIFAR-10, VGG-16 with BatchNorm (CIFAR variant)", epochs=30, batch_size=128),
        # GPU-sized: every training image, airbench's recipe where the harness allows it
        # (docs/scale-out.md, "The study on one GPU", says why each default).
        Problem("cifar10_fast", "cifar10", "airbench", "CIFAR-10, all data, airbench-style net, random crop (2 px, reflected) + flip on the device; for a GPU",
                {"epochs": 20, "batch_size": 1024, "optimizer": "sgd", "lr": 0.4, "weight_decay": 1e-3, "dropout": 0.0},
                augment="crop_flip"),
        _p("imdb", "lstm", "IMDB reviews (sentiment), BPE tokens + LSTM (64 units: CPU-sized)", epochs=5, train_size=10000, test_size=5000, max_length=256,
           model_options={"embed_dim": 64, "hidden_dim": 64, "bidirectional": False}),
        _p("imdb", "transformer", "IMDB reviews, small Transformer encoder from scratch", epochs=5, train_size=10000, test_size=5000, max_length=256),
        _p("imdb", "bert", "IMDB reviews, BERT fine-tuning (weights from --pretrained)", epochs=3, batch_size=16, lr=2e-5, train_size=5000, test_size=2000, max_length=256, pretrained="bert-base-uncased"),
    ]
}  # fmt: skip


def get_problem(name: str) -> Problem:
    """The problem called ``name``; unknown names list the known ones."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; known: {', '.join(PROBLEMS)}")
    return PROBLEMS[name]


#: The transformer's default dropout inside its encoder layers (``encoder_dropout`` of
#: models.text.TransformerClassifier; tests/models checks the two agree).
TRANSFORMER_ENCODER_DROPOUT = 0.1


def has_feature_dropout(model: str, options: dict[str, Any]) -> bool:
    """Whether model ``model`` built with ``options`` has dropout with p > 0 outside its head.

    Full MC dropout samples every dropout module, last-layer MC dropout only the head's
    (whose p is `dropout`). Here: the transformer's ``encoder_dropout`` (default
    ``TRANSFORMER_ENCODER_DROPOUT``) and BERT's encoder (its own config's dropout, 0.1 in
    the stock checkpoints; the estimator checks the built model). The other models have
    dropout in their head only. Torch-free, so config validation builds nothing.
    """
    if model == "transformer":
        p = options.get("encoder_dropout", TRANSFORMER_ENCODER_DROPOUT)
        return not isinstance(p, int | float) or p > 0  # a bad value fails when the model is built
    return model == "bert"
