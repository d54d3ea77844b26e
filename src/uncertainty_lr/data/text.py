"""Text -> fixed-length int64 token ids: a BPE tokenizer trained here, or a pretrained one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from tqdm.auto import tqdm

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
PAD_ID = 0  # PAD_TOKEN is the first special token, so the trainer gives it id 0
# Goes into the cache key: change it whenever the recipe below changes, so stale caches
# are not reused.
TOKENIZER_RECIPE = "bpe/nfkc+lowercase/whitespace-punct/pad0-unk1/v1"
ENCODE_BATCH = 1024


def train_tokenizer(
    texts: Sequence[str], vocab_size: int, show_progress: bool = False
) -> Tokenizer:
    """Train a lowercase BPE tokenizer with at most `vocab_size` tokens on `texts`.

    Ids: 0 = [PAD], 1 = [UNK]. Normalisation: NFKC then lowercase; words are split on
    whitespace and punctuation before BPE merges. Training is deterministic for the
    same texts and vocab_size. The final vocabulary can be smaller than vocab_size
    (small corpora run out of merges) or, for tiny vocab_size, larger (every character
    seen is kept); read `tokenizer.get_vocab_size()` for the real size.
    """
    tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=show_progress
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    if tokenizer.token_to_id(PAD_TOKEN) != PAD_ID:
        raise RuntimeError(
            f"trained tokenizer put {PAD_TOKEN} at {tokenizer.token_to_id(PAD_TOKEN)}"
        )
    return tokenizer


def encode_texts(
    tokenizer: Tokenizer, texts: Sequence[str], max_length: int, show_progress: bool = False
) -> np.ndarray:
    """Token ids int64 (N, max_length): truncated on the right, padded with PAD_ID.

    Sets truncation and padding on `tokenizer` itself, so a saved copy encodes the same.
    """
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token=PAD_TOKEN, length=max_length)
    out = np.empty((len(texts), max_length), dtype=np.int64)
    with tqdm(total=len(texts), desc="tokenizing", unit="text", disable=not show_progress) as bar:
        for start in range(0, len(texts), ENCODE_BATCH):
            batch = list(texts[start : start + ENCODE_BATCH])
            encodings = tokenizer.encode_batch(batch)
            out[start : start + len(batch)] = [e.ids for e in encodings]
            bar.update(len(batch))
    return out


def load_pretrained(name: str):
    """A transformers AutoTokenizer from a local folder or hub id, with a pad token.

    Returns (tokenizer, pad_id, vocab_size). Tokenizers without a pad token (GPT-2
    style) pad with their end-of-sequence token.
    """
    try:
        from transformers import AutoTokenizer  # lazy: transformers is an optional extra
    except ImportError as err:
        raise ValueError(
            f"tokenizer={name!r} needs the transformers package (pip install 'uncertainty-lr[bert]')"
        ) from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as err:  # transformers raises OSError, ValueError, HTTP errors...
        text = " ".join(str(err).split())
        raise ValueError(
            f"could not load tokenizer {name!r}: {type(err).__name__}: {text}"
        ) from err
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError(
                f"tokenizer {name!r} has neither a pad token nor an end-of-sequence token"
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, int(tokenizer.pad_token_id), len(tokenizer)


def encode_pretrained(
    tokenizer, texts: Sequence[str], max_length: int, show_progress: bool = False
) -> np.ndarray:
    """Token ids int64 (N, max_length) from a transformers tokenizer (special tokens included)."""
    out = np.empty((len(texts), max_length), dtype=np.int64)
    with tqdm(total=len(texts), desc="tokenizing", unit="text", disable=not show_progress) as bar:
        for start in range(0, len(texts), ENCODE_BATCH):
            batch = list(texts[start : start + ENCODE_BATCH])
            ids = tokenizer(batch, truncation=True, max_length=max_length, padding="max_length")
            out[start : start + len(batch)] = ids["input_ids"]
            bar.update(len(batch))
    return out
