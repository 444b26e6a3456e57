"""Facts about Evidently's drift methods that the policy and the verdict read, without
importing Evidently: which scores are p-values and each method's default threshold."""

from __future__ import annotations

# Methods whose score is a p-value: drift means a score *below* the threshold.
P_VALUE_METHODS = frozenset(
    {"ks", "chisquare", "z", "anderson", "cramer_von_mises", "es", "fisher_exact", "g_test"}
    | {"mannw", "t_test"}
)

# evidently.legacy.calculations.stattests: each StatTest's default_threshold (0.05 unless set).
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "kl_div": 0.1,
    "hellinger": 0.1,
}


def is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's verdict for `score` against `threshold` with `method`."""
    if method in P_VALUE_METHODS:
        return score < threshold
    return score >= threshold
