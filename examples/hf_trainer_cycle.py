"""The recommended setting (``mode="cycle"``) in the Hugging Face Trainer, through the callback.

The callback steps the scheduler after every optimizer step, hands it the training loss
the model computed while it searches the LR level, and after each evaluation hands it
``eval_uncertainty_overconfidence`` from ``compute_metrics=uncertainty_metrics``.
``budget="known"`` ends the decay at the Trainer's ``max_steps``; leave it out when the
budget is not known. The Trainer's own schedule must be ``constant``. Needs
``pip install "uncertainty-lr[hf]"``.

    python examples/hf_trainer_cycle.py  # writes hf_example_out/ in the current folder
"""

import torch
import transformers
from hf_trainer import TinyClassifier, rows  # the model and data of examples/hf_trainer.py

from uncertainty_lr import RECOMMENDED
from uncertainty_lr.integrations import UncertaintyLRTrainerCallback, uncertainty_metrics


def main() -> None:
    torch.manual_seed(0)
    callback = UncertaintyLRTrainerCallback(**RECOMMENDED, budget="known", search_steps=12)
    args = transformers.TrainingArguments(
        output_dir="hf_example_out",
        eval_strategy="epoch",
        save_strategy="no",
        num_train_epochs=4,
        learning_rate=0.01,
        lr_scheduler_type="constant",  # the callback writes the LR
        optim="sgd",
        per_device_train_batch_size=16,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=TinyClassifier(),
        args=args,
        train_dataset=rows(192, 1),
        eval_dataset=rows(48, 2),
        compute_metrics=uncertainty_metrics,
        callbacks=[callback],
    )
    trainer.train()
    for entry in callback.history:
        print(
            f"epoch {entry['epoch']:.0f}  over-confidence {entry['signal']:.3f}  lr {entry['lrs'][0]:.4f}"
        )
    lr = callback.scheduler.get_last_lr()[0]
    print(f"budget spent: lr {lr:.1e} after {trainer.state.global_step} steps")


if __name__ == "__main__":
    main()
