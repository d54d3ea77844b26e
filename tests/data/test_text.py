"""Text datasets: a BPE tokenizer trained on train only, padding, truncation, pretrained tokenizers."""

import datasets
import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

import uncertainty_lr.data.decode as decode_module
from uncertainty_lr.data import load_data

pytestmark = pytest.mark.usefixtures("isolated_caches")

FEATURES = datasets.Features(
    {"review": datasets.Value("string"), "sentiment": datasets.ClassLabel(names=["neg", "pos"])}
)
GOOD = ["a wonderful film", "wonderful acting and a wonderful plot", "truly wonderful", "great fun"]
BAD = ["an awful film", "awful acting and an awful plot", "boring and awful", "dull"]


def text_folder(root):
    """40 train rows (neg first, then pos, as IMDB), 6 test rows with a test-only word."""
    train_text = [BAD[i % 4] for i in range(20)] + [GOOD[i % 4] for i in range(20)]
    train_text[-1] = " ".join(["wonderful"] * 50)  # long enough to be truncated
    train = datasets.Dataset.from_dict(
        {"review": train_text, "sentiment": [0] * 20 + [1] * 20}, features=FEATURES
    )
    test_text = ["zyzzyva zyzzyva", "awful", "wonderful", "dull film", "great", None]
    test = datasets.Dataset.from_dict(
        {"review": test_text, "sentiment": [0, 0, 1, 0, 1, 1]}, features=FEATURES
    )
    (root / "data").mkdir(parents=True)
    train.to_parquet(root / "data" / "train-00000-of-00001.parquet")
    test.to_parquet(root / "data" / "test-00000-of-00001.parquet")
    return root


def test_text_tokenized_padded_truncated(tmp_path):
    folder = text_folder(tmp_path / "reviews")
    bundle = load_data(
        folder, max_length=12, vocab_size=60, train_size=20, cache_dir=tmp_path / "c"
    )
    assert bundle.kind == "text" and bundle.mean == () and bundle.std == ()
    assert bundle.x_train.dtype == torch.int64 and bundle.x_train.shape == (20, 12)
    assert bundle.sizes() == {"train": 20, "val": 4, "test": 6}
    assert np.bincount(bundle.y_train.numpy()).tolist() == [
        10,
        10,
    ]  # sorted source, balanced subset
    assert bundle.class_names == ["neg", "pos"] and bundle.pad_id == 0
    assert 0 < bundle.vocab_size <= 60 and int(bundle.x_test.max()) < bundle.vocab_size
    lengths = (bundle.x_test != 0).sum(dim=1)
    assert lengths[-1] == 0  # a missing text is all padding
    for row, n in zip(bundle.x_test, lengths, strict=True):
        assert torch.all(row[:n] != 0) and torch.all(row[n:] == 0)  # padding on the right

    tokenizer = Tokenizer.from_file(str(next((tmp_path / "c").glob("reviews-*.tokenizer.json"))))
    vocab = tokenizer.get_vocab()
    assert "wonderful" in vocab and "awful" in vocab
    assert not any("zyzz" in token for token in vocab)  # trained on the train split only
    assert (
        tokenizer.encode("Wonderful FILM").ids == tokenizer.encode("wonderful film").ids
    )  # lowercase
    full = load_data(folder, max_length=12, vocab_size=60, cache_dir=tmp_path / "c")
    everything = torch.cat([full.x_train, full.x_val])
    assert (everything != 0).sum(dim=1).max() == 12  # the 50-word review was cut to max_length
    assert torch.equal(full.x_test, bundle.x_test)
    assert tokenizer.encode("dull film").ids == bundle.x_test[3].tolist()


def test_text_cache_key_follows_text_settings(tmp_path, monkeypatch):
    folder = text_folder(tmp_path / "reviews")
    calls = []
    real = decode_module.decode_splits
    monkeypatch.setattr(
        decode_module, "decode_splits", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    first = load_data(folder, max_length=8, vocab_size=60, cache_dir=tmp_path / "c")
    again = load_data(folder, max_length=8, vocab_size=60, cache_dir=tmp_path / "c")
    assert len(calls) == 1 and torch.equal(first.x_test, again.x_test)
    longer = load_data(folder, max_length=10, vocab_size=60, cache_dir=tmp_path / "c")
    assert len(calls) == 2 and longer.x_test.shape == (6, 10)
    load_data(folder, max_length=8, vocab_size=40, cache_dir=tmp_path / "c")
    assert len(calls) == 3


def test_text_rejects_bad_settings(tmp_path):
    with pytest.raises(ValueError, match="max_length must be a positive integer, got 0"):
        load_data("digits", max_length=0)
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 8, got 2"):
        load_data("digits", vocab_size=2)


def test_pretrained_tokenizer_sets_pad_id_and_vocab(tmp_path):
    transformers = pytest.importorskip("transformers")
    words = ["[UNK]", "wonderful", "awful", "[PAD]", "film", "a", "an"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    wrapped = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]"
    )
    wrapped.save_pretrained(tmp_path / "tok")

    folder = text_folder(tmp_path / "reviews")
    bundle = load_data(folder, tokenizer=tmp_path / "tok", max_length=5, cache_dir=tmp_path / "c")
    assert bundle.pad_id == 3 and bundle.vocab_size == 7
    assert bundle.x_test[2].tolist() == [1, 3, 3, 3, 3]  # "wonderful", padded with id 3
    assert bundle.x_test[0].tolist() == [0, 0, 3, 3, 3]  # unknown word -> [UNK]
    assert not list((tmp_path / "c").glob("*.tokenizer.json"))  # nothing trained
    with pytest.raises(ValueError, match="could not load tokenizer .*missing-tok"):
        load_data(folder, tokenizer=tmp_path / "missing-tok", cache_dir=tmp_path / "c")
