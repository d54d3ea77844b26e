"""BERT (or any Hugging Face encoder) with the package's Dropout + Linear head.

`transformers` is imported lazily, inside `build_bert`, so `uncertainty_lr` imports without it.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from uncertainty_lr.checks import check_int, check_type
from uncertainty_lr.models.mlp import Classifier, classifier_head
from uncertainty_lr.models.text import check_pad_id, check_token_ids


class MissingDependencyError(ImportError, ValueError):
    """An optional dependency is not installed (both an ImportError and a ValueError)."""


def import_transformers() -> Any:
    """The `transformers` module, or MissingDependencyError saying how to install it."""
    try:
        import transformers
    except ImportError as error:
        raise MissingDependencyError(
            'the bert model needs transformers: pip install "uncertainty-lr[bert]"'
        ) from error
    return transformers


def offline_from_env() -> bool:
    """True when HF_HUB_OFFLINE is set to a true value (1, true, yes, on)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


class BertClassifier(Classifier):
    """features = last hidden state of the first ([CLS]) token; head = Dropout + Linear.

    The attention mask is `x != pad_id`, so padding is never attended to.

    Args:
        encoder: a `transformers` model whose output has `last_hidden_state` (N, L, hidden)
            and whose config has `hidden_size` (BertModel, or any AutoModel encoder).
        num_classes: C, the number of logits.
        pad_id: the padding token id (0 for bert-base-uncased).
        dropout: p of the Dropout before the classifier (default 0.5).
    """

    def __init__(
        self, encoder: nn.Module, num_classes: int, pad_id: int = 0, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pad_id = pad_id
        self.num_classes = num_classes
        self.feature_dim = int(encoder.config.hidden_size)
        self.head = classifier_head(self.feature_dim, num_classes, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: int64 token ids (N, L) starting with [CLS] -> (N, hidden_size)."""
        check_token_ids(x, "BertClassifier")
        attention_mask = (x != self.pad_id).long()
        return self.encoder(input_ids=x, attention_mask=attention_mask).last_hidden_state[:, 0]


def build_bert(
    num_classes: int,
    vocab_size: int | None = None,
    pad_id: int = 0,
    max_length: int | None = None,
    dropout: float = 0.5,
    pretrained: str | os.PathLike | None = None,
    bert_config: dict | None = None,
    local_files_only: bool | None = None,
) -> BertClassifier:
    """A BertClassifier from pretrained weights or, for tests, a random tiny BertConfig.

    Args:
        num_classes, pad_id, dropout: as in BertClassifier.
        vocab_size: the tokenizer's vocabulary size; must fit the encoder's embedding table.
        max_length: longest sequence the data holds; must fit the position table.
        pretrained: a local folder or hub id for `AutoModel.from_pretrained`
            (default "bert-base-uncased" when bert_config is not given).
        bert_config: keyword arguments for `BertConfig`; builds a randomly initialised
            BertModel (no download). vocab_size, pad_token_id and max_position_embeddings
            default to vocab_size, pad_id and max(512, max_length).
        local_files_only: passed to from_pretrained; default True when HF_HUB_OFFLINE is set.
    """
    transformers = import_transformers()
    if pretrained is not None and bert_config is not None:
        raise ValueError("give either pretrained or bert_config, not both")
    if bert_config is not None:
        check_type("bert_config", bert_config, dict, "a dict of BertConfig fields", show_value=True)
        fields = dict(bert_config)
        if vocab_size is not None:
            fields.setdefault("vocab_size", check_int("vocab_size", vocab_size))
        fields.setdefault("pad_token_id", pad_id)
        if max_length is not None:
            fields.setdefault("max_position_embeddings", max(512, max_length))
        config = transformers.BertConfig(**fields)
        # Check before building: BertModel itself fails on a bad pad id with a bare assert.
        check_sizes(config, vocab_size, pad_id, max_length)
        encoder = transformers.BertModel(config, add_pooling_layer=False)
    else:
        if local_files_only is None:
            local_files_only = offline_from_env()
        encoder = transformers.AutoModel.from_pretrained(
            os.fspath(pretrained or "bert-base-uncased"), local_files_only=local_files_only
        )
        check_sizes(encoder.config, vocab_size, pad_id, max_length)
    return BertClassifier(encoder, num_classes, pad_id, dropout)


def check_sizes(config: Any, vocab_size: int | None, pad_id: int, max_length: int | None) -> None:
    """ValueError unless the data's vocab_size, pad_id and max_length fit the encoder config."""
    if vocab_size is not None and check_int("vocab_size", vocab_size) > config.vocab_size:
        raise ValueError(
            f"vocab_size must be <= the encoder's vocab_size {config.vocab_size}, got {vocab_size}"
        )
    check_pad_id(pad_id, config.vocab_size)
    limit = getattr(config, "max_position_embeddings", None)
    if max_length is not None and limit is not None and max_length > limit:
        raise ValueError(f"max_length must be <= max_position_embeddings={limit}, got {max_length}")
