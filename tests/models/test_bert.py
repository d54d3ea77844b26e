"""BERT wrapper: lazy transformers import, loading from a local folder, offline flag, checks.

Nothing here downloads: every encoder is a tiny random BertConfig, saved to tmp_path when a
test needs a "pretrained" folder.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

from uncertainty_lr.models import MissingDependencyError, build_model
from uncertainty_lr.models.bert import offline_from_env

transformers = pytest.importorskip("transformers")

TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 37,
}


def tiny_bert(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    options = {"num_classes": 2, "vocab_size": 40, "max_length": 16, "bert_config": TINY_BERT}
    return build_model("bert", **{**options, **kwargs})


def test_tiny_config_builds_small_random_encoder():
    model = tiny_bert(dropout=0.2)
    config = model.encoder.config
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (32, 2, 40)
    assert config.pad_token_id == 0 and config.max_position_embeddings == 512
    assert model.feature_dim == 32 and model.head[0].p == 0.2
    assert model.encoder.pooler is None  # [CLS] features only: no unused pooler weights


def test_features_are_the_cls_hidden_state():
    model = tiny_bert().eval()
    x = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
    with torch.no_grad():
        hidden = model.encoder(input_ids=x, attention_mask=(x != 0).long()).last_hidden_state
        torch.testing.assert_close(model.features(x), hidden[:, 0], rtol=0, atol=0)


def test_loads_a_local_pretrained_folder(tmp_path):
    source = tiny_bert()
    source.encoder.save_pretrained(tmp_path)
    loaded = build_model("bert", num_classes=2, vocab_size=40, pretrained=tmp_path)
    x = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]])
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.eval().features(x), source.eval().features(x), rtol=0, atol=1e-6
        )


@pytest.mark.parametrize(
    "value, expected", [("1", True), ("true", True), ("ON", True), ("0", False), ("", False)]
)
def test_hf_hub_offline_sets_local_files_only(monkeypatch, tmp_path, value, expected):
    tiny_bert().encoder.save_pretrained(tmp_path)
    seen = {}
    real = transformers.AutoModel.from_pretrained

    def spy(path, **kwargs):
        seen.update(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", spy)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert offline_from_env() is expected
    build_model("bert", num_classes=2, pretrained=str(tmp_path))
    assert seen["local_files_only"] is expected
    build_model("bert", num_classes=2, pretrained=str(tmp_path), local_files_only=True)
    assert seen["local_files_only"] is True


def test_missing_transformers_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # makes `import transformers` fail
    with pytest.raises(ValueError, match=r'pip install "uncertainty-lr\[bert\]"') as info:
        tiny_bert()
    assert isinstance(info.value, ImportError) and isinstance(info.value, MissingDependencyError)


def test_package_imports_without_transformers():
    code = (
        "import sys; sys.modules['transformers'] = None\n"
        "import uncertainty_lr.models as m\n"
        "assert 'bert' in m.MODELS\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pretrained": "somewhere"}, "either pretrained or bert_config"),
        ({"bert_config": [1, 2]}, "bert_config must be a dict"),
        ({"bert_config": {**TINY_BERT, "vocab_size": 30}}, "vocab_size must be <= the encoder's vocab_size 30"),
        ({"pad_id": 40}, "pad_id must be an integer in [0, 39], got 40"),
        ({"max_length": 600, "bert_config": {**TINY_BERT, "max_position_embeddings": 64}}, "max_length must be <= max_position_embeddings=64"),
    ],
)  # fmt: skip
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_bert(**kwargs)
