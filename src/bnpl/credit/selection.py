"""Which model to use, chosen by evidence: one stated rule over cross-validated metrics.

The rule (``recommend``): a more complex model is recommended over a simpler one only when its CV
AUC is higher by more than one standard deviation of the per-fold AUC *differences* between the
two, and its Brier score is no worse; otherwise the simpler model stays. Simplicity is the order
of ``SIMPLICITY``: the scorecard (a points table a person can read), then LightGBM. Candidates are
taken simplest first, and each more complex one must beat the one recommended so far.

Why the standard deviation of the paired differences: every learner is scored on the same test
folds, so how hard a fold happens to be (on German credit the fold AUCs spread by ±0.03) is
shared by both models and cancels in their difference. What is left says whether one model wins
consistently. The spread of either model's own fold AUCs would hide a gain that shows in every
fold. It is a whole standard deviation, not a standard error (sd/√n): CV folds share training
rows, so they are not independent, and a t-test on them overstates confidence (Nadeau and
Bengio, 2003). A gain of one sd shows in about five folds out of six. When the two models were
not scored on the same folds (registry entries trained on other data, or entries from before
per-fold AUCs were stored), the larger of their two fold-AUC standard deviations stands in,
which is a stricter bar, and the reason says so.

The champion in service (the *incumbent*), when it was scored on the same folds, comes before
every kind: keeping what already runs is the simplest choice, so a newly trained model replaces it
only by the same rule. (It is scored, never refitted, on each test fold: it never saw those rows.)

The plain optbinning + logistic regression baseline of ``evaluate`` is not a candidate: it has no
points table, no reason codes and no registry kind, so it cannot score a checkout. It is the bar:
when it beats the recommendation by the same rule, the reason says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIMPLICITY = ("scorecard", "lightgbm")  # simplest first
EVALUATED = {"champion": "scorecard", "challenger": "lightgbm"}  # evaluate's learners, by kind
BAR = "baseline"


class NoCandidate(ValueError):
    """Nothing to choose from."""


@dataclass(frozen=True)
class Recommendation:
    name: str
    reason: str
    auc: float
    ks: float
    brier: float

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "auc": self.auc, "ks": self.ks, "brier": self.brier, "reason": self.reason}


@dataclass(frozen=True)
class _Candidate:
    name: str
    rank: int
    m: Mapping[str, Any]

    @property
    def auc(self) -> float:
        return float(self.m["auc"])

    @property
    def brier(self) -> float:
        return float(self.m["brier"])


def _spread(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[float, float, str]:
    """The AUC gain of ``a`` over ``b``, the standard deviation it must exceed, and which one that is."""
    fa, fb = a.get("auc_folds"), b.get("auc_folds")
    if fa and fb and len(fa) == len(fb) >= 2 and a.get("folds_key") == b.get("folds_key"):
        diff = [float(x) - float(y) for x, y in zip(fa, fb, strict=True)]
        mean = sum(diff) / len(diff)
        sd = math.sqrt(sum((d - mean) ** 2 for d in diff) / (len(diff) - 1))
        return mean, sd, f"sd of the {len(diff)} paired fold differences"
    sd = max(float(a.get("auc_std", 0.0)), float(b.get("auc_std", 0.0)))
    return (
        float(a["auc"]) - float(b["auc"]),
        sd,
        "no per-fold AUCs on the same folds, so the larger fold-AUC sd",
    )


def _beats(a: _Candidate, b: _Candidate) -> tuple[bool, str]:
    """Whether ``a`` (more complex) earns its place over ``b`` (simpler), and why in words."""
    gain, sd, which = _spread(a.m, b.m)
    versus = f"{a.name} AUC {a.auc:.4f} vs {b.name} {b.auc:.4f}: {gain:+.4f}"
    sd_text = f"1 sd ({sd:.4f}, {which})"
    if gain <= sd:
        return False, f"{versus}, not more than {sd_text}"
    if a.brier > b.brier:
        return False, f"{versus} > {sd_text}, but Brier {a.brier:.4f} is worse than {b.brier:.4f}"
    return True, f"{versus} > {sd_text}, and Brier {a.brier:.4f} is no worse than {b.brier:.4f}"


def recommend(
    results: Mapping[str, Mapping[str, Any]],
    kinds: Mapping[str, str] = EVALUATED,
    bar: str | None = BAR,
    keep: str | None = None,
) -> Recommendation:
    """The model the rule recommends (see the module docstring) among ``results`` (name → CV
    metrics: ``auc``, ``ks``, ``brier``, ``auc_std``, and, where known, ``auc_folds`` with a
    ``folds_key`` naming the folds). ``kinds`` names the candidates and their model kind; other
    entries (the baseline, the oracle) are not candidates. ``keep`` names the incumbent in
    ``results``, which every candidate must beat. Raises ``NoCandidate`` with none."""
    order = {kind: i for i, kind in enumerate(SIMPLICITY)}
    unknown = sorted(k for k in kinds.values() if k not in order)
    if unknown:
        raise ValueError(f"unknown model kind {unknown[0]!r}; known: {', '.join(SIMPLICITY)}")
    candidates = sorted(
        (_Candidate(name, order[kinds[name]], m) for name, m in results.items() if name in kinds),
        key=lambda c: (c.rank, -c.auc, c.brier, c.name),  # of one kind, the best AUC goes first
    )
    if keep is not None and keep in results:
        candidates = [_Candidate(keep, -1, results[keep]), *(c for c in candidates if c.name != keep)]
    if not candidates:
        raise NoCandidate("no model to choose from")
    pick, steps = candidates[0], []
    for challenger in candidates[1:]:
        if challenger.rank == pick.rank:  # as simple as the pick, and no better by AUC
            steps.append(f"{challenger.name} is as simple, with AUC {challenger.auc:.4f}")
            continue
        wins, why = _beats(challenger, pick)
        steps.append(why)
        if wins:
            pick = challenger
    simplest = (
        ("the champion in service", *SIMPLICITY) if keep is not None and keep in results else SIMPLICITY
    )
    rule = (
        f"simplicity {' < '.join(simplest)}: a more complex model needs a CV AUC higher by more "
        "than 1 sd and a Brier no worse"
    )
    reason = ("; ".join(steps) or f"{pick.name} is the only candidate") + f"; so {pick.name} ({rule})"
    if bar is not None and bar in results and bar not in kinds:
        wins, why = _beats(_Candidate(bar, -1, results[bar]), pick)
        if wins:
            reason += f"; warning: the plain {bar} beats it ({why})"
    m = pick.m
    return Recommendation(pick.name, reason, float(m["auc"]), float(m["ks"]), float(m["brier"]))
