"""Tests for uncertainty_lr.models: the features/head contract, training, padding, sizes, errors."""

from __future__ import annotations

import io
import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from uncertainty_lr.models import MODELS, build_model

VOCAB = 50
PAD = 0
TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 37,
}

#: name -> build_model keywords for a tiny, fast version of the model.
TINY: dict[str, dict] = {
    "mlp": {"in_channels": 1, "image_size": 8, "hidden_dim": 32},
    "cnn": {"in_channels": 1, "image_size": 12},
    "resnet18": {"in_channels": 3, "image_size": 8, "width": 4},
    "vgg16": {"in_channels": 3, "image_size": 8, "width_mult": 1 / 16},
    # logit_scale 1: at airbench's 1/9 the logits need more than 30 Adam steps to grow
    "airbench": {"in_channels": 3, "image_size": 12, "width": 4, "logit_scale": 1.0},
    "lstm": {"vocab_size": VOCAB, "pad_id": PAD, "embed_dim": 16, "hidden_dim": 16},
    "transformer": {
        "vocab_size": VOCAB,
        "pad_id": PAD,
        "max_length": 16,
        "d_model": 16,
        "heads": 2,
        "ff_dim": 32,
    },
    "bert": {"vocab_size": VOCAB, "pad_id": PAD, "max_length": 16, "bert_config": TINY_BERT},
}
TEXT = ("lstm", "transformer", "bert")


def tiny(name: str, num_classes: int = 3, dropout: float = 0.3, seed: int = 0) -> nn.Module:
    if name == "bert":  # an extra (uncertainty-lr[bert]): skipped where it is not installed
        pytest.importorskip("transformers")
    torch.manual_seed(seed)
    return build_model(name, num_classes=num_classes, dropout=dropout, **TINY[name])


def token_batch(n: int = 8, length: int = 10, seed: int = 0) -> torch.Tensor:
    """Token ids (n, length) in [1, VOCAB), row i right-padded with PAD after 2 + i % 7 tokens."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, VOCAB, (n, length), generator=g)
    for i in range(n):
        x[i, 2 + i % (length - 3) :] = PAD
    return x


def batch(name: str, n: int = 8, seed: int = 0) -> torch.Tensor:
    if name in TEXT:
        return token_batch(n, seed=seed)
    options = TINY[name]
    size = options["image_size"]
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, options["in_channels"], size, size, generator=g)


def test_registry_names_and_descriptions():
    assert set(MODELS) == {
        "mlp",
        "cnn",
        "resnet18",
        "vgg16",
        "airbench",
        "lstm",
        "transformer",
        "bert",
    }
    assert all(isinstance(d, str) and d and "\n" not in d for d in MODELS.values())
    assert set(TINY) == set(MODELS)


@pytest.mark.parametrize("name", list(TINY))
def test_features_head_contract(name):
    model = tiny(name, num_classes=3, dropout=0.3).eval()
    x = batch(name)
    with torch.no_grad():
        logits = model(x)
        features = model.features(x)
        again = model.head(features)
    assert logits.shape == (8, 3)
    assert features.shape == (8, model.feature_dim)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits, again, rtol=0, atol=0)
    head = model.head
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert isinstance(head[0], nn.Dropout) and head[0].p == 0.3
    assert isinstance(head[1], nn.Linear)
    assert (head[1].in_features, head[1].out_features) == (model.feature_dim, 3)


@pytest.mark.parametrize("name", list(TINY))
def test_head_dropout_is_active_in_train_mode(name):
    model = tiny(name, dropout=0.5).train()
    features = torch.ones(64, model.feature_dim)
    assert not torch.equal(model.head(features), model.head(features))
    model.eval()
    assert torch.equal(model.head(features), model.head(features))


@pytest.mark.parametrize("name", list(TINY))
def test_same_seed_same_model(name):
    first, second, other = tiny(name, seed=1), tiny(name, seed=1), tiny(name, seed=2)
    a, b, c = first.state_dict(), second.state_dict(), other.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    x = batch(name)
    with torch.no_grad():
        assert torch.equal(first.eval()(x), second.eval()(x))


@pytest.mark.parametrize("name", list(TINY))
def test_overfits_sixteen_samples(name):
    # Train mode with dropout 0 makes the loss a deterministic function of the weights. (In
    # eval mode the tiny VGG's BatchNorm, over 1x1 maps of 16 samples, lags the weights.)
    model = tiny(name, num_classes=3, dropout=0.0).train()
    x = batch(name, n=16, seed=3)
    y = torch.arange(16) % 3
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[1] < losses[0], losses[:2]  # the very first step already helps
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize("name", TEXT)
@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_text_models_ignore_trailing_padding(name, grad):
    model = tiny(name).eval()
    x = token_batch(6, length=10)
    longer = torch.cat([x, torch.full((6, 5), PAD)], dim=1)
    with torch.set_grad_enabled(grad):
        logits = model(x)
        padded = model(longer)
        # Each row alone, cut to its real tokens, gives the same logits as inside the batch.
        alone = torch.cat([model(row[row != PAD].unsqueeze(0)) for row in x])
    torch.testing.assert_close(padded, logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(alone, logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", TEXT)
def test_text_models_read_the_tokens(name):
    # The padding test above would also pass for a model that ignores its input.
    model = tiny(name).eval()
    x = token_batch(4)
    changed = x.clone()
    changed[:, 1] = changed[:, 1] % (VOCAB - 1) + 1  # a different non-pad token
    with torch.no_grad():
        assert not torch.allclose(model(x), model(changed), atol=1e-4)


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_all_padding_row_is_finite(name):
    model = tiny(name).eval()
    x = torch.full((2, 6), PAD)
    x[1, :3] = 7
    with torch.no_grad():
        assert torch.isfinite(model(x)).all()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_default_sizes_parameter_counts():
    torch.manual_seed(0)
    resnet = build_model("resnet18", num_classes=10, in_channels=3, image_size=32)
    vgg = build_model("vgg16", num_classes=10, in_channels=3, image_size=32)
    assert 11.1e6 < parameter_count(resnet) < 11.25e6  # the CIFAR ResNet-18 has 11.17M
    assert 14.6e6 < parameter_count(vgg) < 15.1e6  # the CIFAR VGG-16-BN has 14.73M
    assert resnet.feature_dim == vgg.feature_dim == 512
    airbench = build_model("airbench", num_classes=10, in_channels=3, image_size=32)
    # airbench94's own net has 1.97M; here the stem's BatchNorm replaces its whitening bias
    assert 1.96e6 < parameter_count(airbench) < 1.98e6
    assert airbench.feature_dim == 256


def test_airbench_starts_as_identity_and_trains_no_batchnorm_scale():
    from uncertainty_lr.models.airbench import BN_MOMENTUM

    torch.manual_seed(0)
    model = build_model("airbench", num_classes=10, in_channels=3, image_size=32, width=4)
    conv = model.groups[1].conv1  # 4 -> 16 channels: its first 4 filters pass input channel i
    identity = torch.zeros(3, 3)
    identity[1, 1] = 1
    for i in range(4):
        for j in range(4):
            assert torch.equal(conv.weight[i, j], identity if i == j else torch.zeros(3, 3))
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 7 and all(m.momentum == BN_MOMENTUM for m in norms)
    assert not any(m.weight.requires_grad for m in norms)
    assert all(m.bias.requires_grad for m in norms)
    with torch.no_grad():  # the head starts from features scaled by 1/9
        x = torch.randn(4, 3, 32, 32)
        torch.testing.assert_close(model.features(x) * 9, model.pool(model.groups(model.stem(x))))


@pytest.mark.parametrize("size", [9, 32, 40])
def test_airbench_any_image_size_from_nine_pixels(size):
    torch.manual_seed(0)
    model = build_model("airbench", num_classes=3, in_channels=1, image_size=size, width=2)
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 1, size, size)).shape == (2, 3)


@pytest.mark.parametrize("size, pools", [(32, 5), (28, 4), (8, 3), (1, 0)])
def test_vgg16_skips_pools_below_one_pixel(size, pools):
    torch.manual_seed(0)
    model = build_model("vgg16", num_classes=2, in_channels=1, image_size=size, width_mult=1 / 32)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == pools
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 1, size, size)).shape == (2, 2)


@pytest.mark.parametrize("size, blocks", [(8, 3), (28, 3), (32, 4)])
def test_cnn_depth_follows_image_size(size, blocks):
    torch.manual_seed(0)
    model = build_model("cnn", num_classes=10, in_channels=3, image_size=size)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == blocks
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 3, size, size)).shape == (2, 10)


def test_resnet18_any_image_size_and_width():
    torch.manual_seed(0)
    model = build_model("resnet18", num_classes=4, in_channels=1, width=2).eval()
    assert model.feature_dim == 16
    with torch.no_grad():
        for size in (5, 16):
            assert model(torch.randn(2, 1, size, size)).shape == (2, 4)


def test_lstm_options():
    torch.manual_seed(0)
    one_way = build_model("lstm", num_classes=2, vocab_size=VOCAB, hidden_dim=8, bidirectional=False, layers=2)  # fmt: skip
    assert one_way.feature_dim == 8 and one_way.lstm.num_layers == 2
    with torch.no_grad():
        assert one_way.eval()(token_batch(3)).shape == (3, 2)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("nope", {"num_classes": 2}, "known: mlp, cnn, resnet18, vgg16, airbench, lstm, transformer, bert"),
        ("cnn", {"num_classes": 1, "in_channels": 1, "image_size": 8}, "num_classes must be"),
        ("cnn", {"num_classes": 2, "in_channels": 1, "image_size": 8, "dropout": 1.5}, "dropout must be a number in"),
        ("cnn", {"num_classes": 2, "image_size": 8}, "needs in_channels"),
        ("mlp", {"num_classes": 2, "in_channels": 1}, "needs image_size"),
        ("cnn", {"num_classes": 2, "in_channels": 1, "image_size": 0}, "image_size must be"),
        ("vgg16", {"num_classes": 2, "in_channels": 1, "image_size": (8, -1)}, "image_size must be"),
        ("resnet18", {"num_classes": 2, "in_channels": 0}, "in_channels must be"),
        ("resnet18", {"num_classes": 2, "in_channels": 3, "depth": 34}, "unknown option(s) for 'resnet18': depth"),
        ("vgg16", {"num_classes": 2, "in_channels": 1, "image_size": 8, "width_mult": 0}, "width_mult must be"),
        ("airbench", {"num_classes": 2, "in_channels": 3, "image_size": 8}, "at least 9x9 px, got 8x8"),
        ("airbench", {"num_classes": 2, "in_channels": 3, "image_size": 32, "logit_scale": 0}, "logit_scale must be"),
        ("cnn", {"num_classes": 2, "in_channels": 1, "image_size": 8, "channels": ()}, "channels must be"),
        ("lstm", {"num_classes": 2}, "needs vocab_size"),
        ("lstm", {"num_classes": 2, "vocab_size": 10, "pad_id": 10}, "pad_id must be an integer in [0, 9], got 10"),
        ("transformer", {"num_classes": 2, "vocab_size": 10}, "needs max_length"),
        ("transformer", {"num_classes": 2, "vocab_size": 10, "max_length": 8, "heads": 3}, "divisible by heads"),
        ("transformer", {"num_classes": 2, "vocab_size": 10, "max_length": 8, "encoder_dropout": 1}, "encoder_dropout"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_value_error(name, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_model(name, **kwargs)


@pytest.mark.parametrize(
    "name, x, message",
    [
        ("mlp", torch.randn(2, 1, 9, 9), "MLP expects inputs of shape"),
        ("cnn", torch.randn(2, 3, 12, 12), "SmallCNN expects"),
        ("vgg16", torch.randn(2, 3, 16, 16), "VGG16 expects"),
        ("airbench", torch.randn(2, 3, 16, 16), "AirbenchNet expects"),
        ("resnet18", torch.randn(2, 1, 8, 8), "ResNet18 expects"),
        ("lstm", torch.rand(2, 5), "expects int64 token ids"),
        ("transformer", torch.ones(2, 17, dtype=torch.long), "max_length=16, got 17"),
    ],
)
def test_bad_inputs_raise_value_error(name, x, message):
    with pytest.raises(ValueError, match=message):
        tiny(name)(x)


@pytest.mark.slow
def test_cnn_reaches_97_percent_on_mnist_in_one_epoch(shared_datasets):
    # The study plan's settings: Adam 1e-3, batch 64, weight decay 1e-4, head dropout 0.5.
    pq = pytest.importorskip("pyarrow.parquet")
    image = pytest.importorskip("PIL.Image")
    import numpy as np

    def load(start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        table = pq.read_table(shared_datasets / "mnist" / "train-00000-of-00001.parquet")
        rows = table.slice(start, stop - start).to_pydict()
        pixels = np.stack([np.array(image.open(io.BytesIO(r["bytes"]))) for r in rows["image"]])
        x = (torch.from_numpy(pixels).float() / 255 - 0.1307) / 0.3081
        return x.unsqueeze(1), torch.tensor(rows["label"])

    x_train, y_train = load(0, 10_000)
    x_val, y_val = load(50_000, 52_000)
    torch.manual_seed(0)
    model = build_model("cnn", num_classes=10, in_channels=1, image_size=28, dropout=0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    for idx in torch.randperm(10_000).split(64):
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model.eval()(x_val).argmax(1) == y_val).float().mean().item()
    assert accuracy > 0.97


@pytest.mark.parametrize("name", list(TINY))
def test_has_feature_dropout_matches_the_built_model(name):
    # The config check refuses mc_* signals at dropout 0 only where no dropout with p > 0
    # sits outside the head; it must agree with what build_model really makes.
    from uncertainty_lr.models import has_feature_dropout
    from uncertainty_lr.signals.estimators import DROPOUT_TYPES

    if name == "bert":
        pytest.importorskip("transformers")
    variants = [{}] + ([{"encoder_dropout": 0.0}] if name == "transformer" else [])
    for extra in variants:
        torch.manual_seed(0)
        model = build_model(name, num_classes=3, dropout=0.0, **{**TINY[name], **extra})
        head = {id(m) for m in model.head.modules()}
        active = [m for m in model.modules()
                  if isinstance(m, DROPOUT_TYPES) and m.p > 0 and id(m) not in head]  # fmt: skip
        options = {k: v for k, v in {**TINY[name], **extra}.items() if k in ("encoder_dropout",)}
        assert has_feature_dropout(name, options) == bool(active), (name, extra)
