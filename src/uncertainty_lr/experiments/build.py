"""A resolved RunConfig -> its data, model and optimizer, seeded so that runs are paired.

Seed k gives the same split, subset and initial weights under every schedule.
"""

from __future__ import annotations

import torch

from uncertainty_lr.experiments.config import RunConfig, data_arguments
from uncertainty_lr.problems import get_problem


def load_problem_data(cfg: RunConfig, *, progress: bool = False):
    """The DataBundle of a resolved config (cached on disk after the first decode)."""
    from uncertainty_lr.data import load_data, resolve_source

    source = cfg.source or resolve_source(get_problem(cfg.problem).dataset, cfg.data_dir)
    return load_data(source, **data_arguments(cfg), progress=progress)


def build_model(cfg: RunConfig, data) -> torch.nn.Module:
    """The problem's model, initialised from the run seed (the same under every schedule)."""
    from uncertainty_lr.models import InputShape
    from uncertainty_lr.models import build_model as build

    problem = get_problem(cfg.problem)
    options = dict(cfg.model_options)
    if problem.model == "bert" and cfg.pretrained and "bert_config" not in options:
        options["pretrained"] = cfg.pretrained
    torch.manual_seed(cfg.seed)
    sizes = tuple(data.x_train.shape[1:])
    image = data.kind == "image"
    shape = InputShape(
        in_channels=sizes[0] if image else None,
        image_size=sizes[-1] if image else None,
        vocab_size=data.vocab_size or None,
        pad_id=data.pad_id,
        max_length=sizes[0] if data.kind == "text" else None,
    )
    return build(problem.model, shape, num_classes=data.num_classes, dropout=cfg.dropout, **options)


def build_optimizer(cfg: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over the trainable parameters at ``cfg.lr`` (SGD: momentum 0.9)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
