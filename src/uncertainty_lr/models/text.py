"""Text classifiers trained from scratch: a (bi)LSTM and a small Transformer encoder.

Input is ONE int64 tensor of token ids (N, L), padded on the RIGHT with `pad_id`. Both models
build their masks from `pad_id`, so appending more padding leaves the logits unchanged. A row
that is all padding is read as a single padding token (rather than an empty sequence, which
has no mean and would make attention produce NaN).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from uncertainty_lr.checks import check_bool, check_int, check_number
from uncertainty_lr.models.mlp import Classifier, classifier_head


def check_pad_id(pad_id: object, vocab_size: int) -> int:
    """`pad_id` if it is a token id, an integer in [0, vocab_size - 1]; else ValueError."""
    return check_int("pad_id", pad_id, 0, vocab_size - 1)


def check_token_ids(x: torch.Tensor, model: str) -> None:
    """ValueError unless x is an integer tensor of shape (N, L) with L >= 1."""
    if x.dim() != 2 or x.shape[1] < 1 or x.dtype.is_floating_point or x.dtype == torch.bool:
        raise ValueError(
            f"{model} expects int64 token ids of shape (N, L), got {x.dtype} {tuple(x.shape)}"
        )


def valid_lengths(x: torch.Tensor, pad_id: int) -> torch.Tensor:
    """(N,) int64: 1 + index of the last non-padding token of each row, at least 1.

    Using the LAST non-padding token (not a count) keeps a pad id that happens to occur
    inside a sequence as an ordinary token, so only trailing padding is dropped.
    """
    positions = torch.arange(1, x.shape[1] + 1, device=x.device)
    return ((x != pad_id) * positions).amax(dim=1).clamp(min=1)


def masked_mean(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of values (N, L, D) over the positions where keep (N, L) is True -> (N, D)."""
    keep = keep.unsqueeze(-1).to(values.dtype)
    return (values * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


class LSTMClassifier(Classifier):
    """Embedding -> (bi)LSTM over packed sequences -> masked mean over time -> head.

    Packing means the LSTM never reads the trailing padding (in either direction), so the
    result does not depend on how much padding follows a sequence.

    Args:
        num_classes: C, the number of logits.
        vocab_size: number of token ids; pad_id: the padding id (its embedding stays zero).
        embed_dim: embedding size (default 128); hidden_dim: LSTM hidden size (default 128).
        layers: stacked LSTM layers (default 1); bidirectional: default True, so the feature
            dim D is 2 * hidden_dim (hidden_dim when False).
        dropout: p of the Dropout before the classifier (default 0.5).
    """

    def __init__(
        self,
        num_classes: int,
        vocab_size: int,
        pad_id: int = 0,
        embed_dim: int = 128,
        hidden_dim: int = 128,
        layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        vocab_size = check_int("vocab_size", vocab_size)
        self.pad_id = check_pad_id(pad_id, vocab_size)
        check_bool("bidirectional", bidirectional)
        self.num_classes = num_classes
        self.embedding = nn.Embedding(
            vocab_size, check_int("embed_dim", embed_dim), padding_idx=pad_id
        )
        self.lstm = nn.LSTM(
            embed_dim,
            check_int("hidden_dim", hidden_dim),
            num_layers=check_int("layers", layers),
            batch_first=True,
            bidirectional=bidirectional,
        )
        self.feature_dim = hidden_dim * (2 if bidirectional else 1)
        self.head = classifier_head(self.feature_dim, num_classes, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: int64 (N, L) -> (N, D), the mean LSTM output over each row's valid tokens."""
        check_token_ids(x, "LSTMClassifier")
        lengths = valid_lengths(x, self.pad_id)
        # pack_padded_sequence wants the lengths on the CPU whatever the device of x.
        packed = pack_padded_sequence(
            self.embedding(x), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        keep = torch.arange(x.shape[1], device=x.device) < lengths.unsqueeze(1)
        return masked_mean(out, keep)


class TransformerClassifier(Classifier):
    """Token + learned position embeddings -> pre-norm TransformerEncoder -> masked mean -> head.

    Padding positions are excluded as attention keys (src_key_padding_mask) and from the mean,
    and positions are absolute, so trailing padding cannot change the result.
    `enable_nested_tensor=False` keeps one code path (no nested-tensor fast path).

    Args:
        num_classes: C, the number of logits.
        vocab_size: number of token ids; pad_id: the padding id.
        max_length: longest sequence accepted (size of the position table).
        d_model: model width = feature dim D (default 128); heads: attention heads (default 4);
        layers: encoder layers (default 2); ff_dim: feed-forward width (default 4 * d_model);
        encoder_dropout: dropout inside the encoder layers (default 0.1).
        dropout: p of the Dropout before the classifier (default 0.5).
    """

    def __init__(
        self,
        num_classes: int,
        vocab_size: int,
        max_length: int,
        pad_id: int = 0,
        d_model: int = 128,
        heads: int = 4,
        layers: int = 2,
        ff_dim: int | None = None,
        encoder_dropout: float = 0.1,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        vocab_size = check_int("vocab_size", vocab_size)
        self.pad_id = check_pad_id(pad_id, vocab_size)
        self.max_length = check_int("max_length", max_length)
        d_model = check_int("d_model", d_model)
        if d_model % check_int("heads", heads):
            raise ValueError(
                f"d_model must be divisible by heads, got d_model={d_model}, heads={heads}"
            )
        ff_dim = 4 * d_model if ff_dim is None else check_int("ff_dim", ff_dim)
        check_number("encoder_dropout", encoder_dropout, 0.0, 1.0, "[)")
        self.num_classes = num_classes
        self.feature_dim = d_model
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.position = nn.Embedding(max_length, d_model)
        # Pre-norm (norm_first) trains from scratch without a warm-up; the final LayerNorm
        # is then needed to normalise the residual stream before pooling.
        layer = nn.TransformerEncoderLayer(
            d_model, heads, ff_dim, encoder_dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, check_int("layers", layers), nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.head = classifier_head(d_model, num_classes, dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: int64 (N, L), L <= max_length -> (N, d_model), the mean over valid tokens."""
        check_token_ids(x, "TransformerClassifier")
        if x.shape[1] > self.max_length:
            raise ValueError(
                f"sequence length must be <= max_length={self.max_length}, got {x.shape[1]}"
            )
        lengths = valid_lengths(x, self.pad_id)
        keep = torch.arange(x.shape[1], device=x.device) < lengths.unsqueeze(1)
        positions = torch.arange(x.shape[1], device=x.device)
        hidden = self.embedding(x) + self.position(positions)
        hidden = self.encoder(hidden, src_key_padding_mask=~keep)
        return masked_mean(hidden, keep)
