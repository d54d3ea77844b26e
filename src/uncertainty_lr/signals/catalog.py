"""Every uncertainty signal the package knows, as data: ``SIGNALS[name] -> SignalSpec``.

The one list that validation (``schedulers.registry``, ``experiments.config``), the run
loop (``experiments.evaluate``, ``experiments.schedules``), ``signals.estimate``, the
framework callbacks and ``uncertainty-lr list`` read, so they cannot disagree. A signal is
a family (where its predictions come from: one eval pass, MC dropout, last-layer MC
dropout, last-layer Laplace, the training batches) and a function of
``uncertainty_lr.signals.functions`` applied to those predictions.

Adding a single-pass signal is its function in ``functions.py`` and one entry here.

Torch-free and importing nothing of the package, so the config check and the report can
read it without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """Where a signal's predictions come from, and what that needs.

    ``sampled``: T stochastic predictions (T, N, C) rather than one (N, C).
    ``dropout``: where dropout with p > 0 must be ("model": anywhere; "head": in the
    classifier head), else every sample is the same; None when no dropout is sampled.
    ``last_layer``: samples only the head, on features computed once, so the same pass
    also gives the deterministic logits. ``laplace_fit``: a posterior of the head is fitted
    on the training inputs first. ``training``: read from the training loop's own batch
    logits (an EMA over batches), not from an evaluation.
    """

    description: str
    sampled: bool = False
    dropout: str | None = None
    last_layer: bool = False
    laplace_fit: bool = False
    training: bool = False


FAMILIES: dict[str, Family] = {
    "single_pass": Family("one deterministic eval-mode pass over the evaluated data"),
    "mc_dropout": Family("T passes with every dropout layer sampling (whole model)",
                         sampled=True, dropout="model"),
    "last_layer_dropout": Family("features once, then T passes of the head with its dropout "
                                 "sampling", sampled=True, dropout="head", last_layer=True),
    "last_layer_laplace": Family("features once, then T draws from a K-FAC Laplace posterior "
                                 "of the linear head fitted on training features",
                                 sampled=True, last_layer=True, laplace_fit=True),
    "training": Family("the training batches' own logits, EMA over batches (no extra pass)",
                       training=True),
}  # fmt: skip


@dataclass(frozen=True)
class SignalSpec:
    """One signal: a float in [0, 1], 0 = certain (in [-1, 1] when ``signed``).

    ``family`` is a key of ``FAMILIES``. ``function`` names the function of
    ``uncertainty_lr.signals.functions`` that computes it: from probabilities (N, C) (and
    the labels (N,) when ``needs_labels``) for a single pass, from samples (T, N, C) for a
    sampled family, from each training batch's logits (N, C) for the training family.
    ``statistic`` is the quantity's name whatever the family ("entropy" for entropy,
    mc_entropy and train_entropy); the framework callbacks take it as their ``signal``.
    ``per_example`` names the function of ``functions`` giving it per example, (N,), whose
    mean is the signal (None where the signal is not such a mean); the callbacks average it
    over batches. ``every_evaluation``: computed on every evaluation (it costs nothing
    beyond the loss) and stored in a column of its own; other signals are computed when a
    schedule or ``--signals`` asks for them.
    """

    name: str
    family: str
    statistic: str
    function: str
    description: str
    per_example: str | None = None
    needs_labels: bool = False
    signed: bool = False
    every_evaluation: bool = False

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(
                f"family of signal {self.name!r} must be one of {', '.join(FAMILIES)}; "
                f"got {self.family!r}"
            )

    @property
    def needs_dropout(self) -> str | None:
        """Where dropout with p > 0 must be ("model" or "head"), or None."""
        return FAMILIES[self.family].dropout

    @property
    def needs_laplace_fit(self) -> bool:
        """Whether computing it fits a Laplace posterior on the training inputs."""
        return FAMILIES[self.family].laplace_fit

    @property
    def sampled(self) -> bool:
        """Whether it reads T stochastic predictions (T, N, C)."""
        return FAMILIES[self.family].sampled

    @property
    def from_training(self) -> bool:
        """Whether it comes from the training batches rather than an evaluation."""
        return FAMILIES[self.family].training


#: The statistics of T sampled predictions (T, N, C): statistic -> the function of
#: ``functions`` computing it, the per-example one, and its description ({} = the draws).
_SAMPLED = {
    "entropy": ("predictive_entropy", None, "entropy / log C of the mean of T {}"),
    "mutual_information": ("mutual_information", "per_sample_mutual_information",
                           "BALD mutual information / log C over T {}"),
    "variance": ("predictive_variance", "per_sample_variance",
                 "summed class-probability variance over T {}, / (1 - 1/C)"),
}  # fmt: skip


def _sampled(prefix: str, family: str, draws: str, statistics=tuple(_SAMPLED)) -> tuple:
    """The entries ``<prefix>_<statistic>`` of a sampled family, one per statistic."""
    return tuple(
        SignalSpec(f"{prefix}_{stat}", family, stat, _SAMPLED[stat][0],
                   _SAMPLED[stat][2].format(draws), per_example=_SAMPLED[stat][1])
        for stat in statistics
    )  # fmt: skip


#: In the order ``list`` prints them and error messages name them.
SIGNALS: dict[str, SignalSpec] = {spec.name: spec for spec in (
    SignalSpec("confidence", "single_pass", "confidence", "confidence",
        "1 - mean max softmax probability, one eval pass, scaled by 1 - 1/C",
        per_example="per_sample_confidence", every_evaluation=True),
    SignalSpec("entropy", "single_pass", "entropy", "entropy",
        "mean predictive entropy / log C, one eval pass",
        per_example="per_sample_entropy", every_evaluation=True),
    SignalSpec("margin", "single_pass", "margin", "margin",
        "1 - mean gap between the top two softmax probabilities, one eval pass",
        per_example="per_sample_margin", every_evaluation=True),
    SignalSpec("overconfidence", "single_pass", "overconfidence", "overconfidence",
        "mean max softmax probability minus accuracy, floored at 0, one eval pass (reads "
        "the labels)", needs_labels=True),
    SignalSpec("calibration_gap", "single_pass", "calibration_gap", "calibration_gap",
        "mean max softmax probability minus accuracy, signed in [-1, 1], one eval pass "
        "(reads the labels; explore=true reads the sign, other modes floor it at 0)",
        needs_labels=True, signed=True),
    *_sampled("mc", "mc_dropout", "MC-dropout passes (whole model)"),
    *_sampled("ll", "last_layer_dropout", "last-layer MC-dropout passes (head only)"),
    *_sampled("la", "last_layer_laplace", "last-layer Laplace draws (K-FAC GGN of the head)",
              ("entropy", "mutual_information")),
    SignalSpec("train_confidence", "training", "confidence", "confidence",
        "confidence of the training logits, EMA over batches (no extra pass)"),
    SignalSpec("train_entropy", "training", "entropy", "entropy",
        "entropy of the training logits, EMA over batches (no extra pass)"),
    SignalSpec("train_margin", "training", "margin", "margin",
        "margin of the training logits, EMA over batches (no extra pass)"),
)}  # fmt: skip


def signal_spec(name: str) -> SignalSpec:
    """The entry of signal ``name``; ValueError naming it and the known signals."""
    if name not in SIGNALS:
        raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNALS)}")
    return SIGNALS[name]


def evaluated_signals() -> tuple[str, ...]:
    """The signals an evaluation computes (all but the training family): what ``--signals``
    and ``experiments.evaluate`` accept."""
    return tuple(name for name, spec in SIGNALS.items() if not spec.from_training)


def signals_of(family: str) -> tuple[SignalSpec, ...]:
    """The entries of one family, in catalog order."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")
    return tuple(spec for spec in SIGNALS.values() if spec.family == family)
