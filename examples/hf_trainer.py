"""The Hugging Face Trainer with no callback: MonitoredUncertaintyLR in ``optimizers=``.

``compute_metrics=uncertainty_metrics`` turns the gathered eval logits into
``eval_uncertainty_{confidence,entropy,margin}``, and ``metric_for_best_model`` names the
one the Trainer steps the scheduler with after each evaluation (never per batch). Leave
``metric_for_best_model`` out and ``uncertainty_metrics`` stops the Trainer with a message
saying what to set. Needs ``pip install "uncertainty-lr[hf]"``.

    python examples/hf_trainer.py        # writes hf_example_out/ in the current folder
"""

import torch
import transformers
from torch import nn

from uncertainty_lr import MonitoredUncertaintyLR
from uncertainty_lr.integrations import uncertainty_metrics


class TinyClassifier(nn.Module):
    """forward(x, labels) -> {"loss", "logits"}: the output the Trainer expects."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        logits = self.net(x)
        if labels is None:
            return {"logits": logits}
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def rows(n: int, seed: int) -> list[dict]:
    """Three Gaussian blobs in 8-D as the Trainer's dataset: [{"x": (8,), "labels": ()}]."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 8, generator=torch.Generator().manual_seed(99))
    y = torch.randint(0, 3, (n,), generator=generator)
    x = centres[y] + torch.randn(n, 8, generator=generator)
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


def main() -> None:
    torch.manual_seed(0)
    model = TinyClassifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = MonitoredUncertaintyLR(optimizer, threshold=0.3, step_size=0.2)
    args = transformers.TrainingArguments(
        output_dir="hf_example_out",
        eval_strategy="epoch",
        save_strategy="no",
        num_train_epochs=3,
        per_device_train_batch_size=16,
        metric_for_best_model="uncertainty_entropy",  # what the scheduler is stepped with
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=rows(96, 1),
        eval_dataset=rows(48, 2),
        compute_metrics=uncertainty_metrics,
        optimizers=(optimizer, scheduler),
    )
    trainer.train()
    for entry in trainer.state.log_history:
        if "eval_uncertainty_entropy" in entry:
            print(f"epoch {entry['epoch']:.0f}  entropy {entry['eval_uncertainty_entropy']:.3f}")
    print(f"{scheduler.policy.steps} decisions, lr now {scheduler.get_last_lr()[0]:.4f}")


if __name__ == "__main__":
    main()
