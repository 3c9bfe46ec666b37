"""Compare the metrics of two runs: what changed from run A to run B, and what regressed.

Metrics are matched on their key (Category, Subcategory, Data/Packet Size, matched like
the reference: case and spacing ignored), their devices ("0->1", "2") and unit; a key
measured several times in a run is matched occurrence by occurrence, in order.

With tolerance ``tol``, ``score`` = B / A (A / B for latencies, where lower is better):

- ``regression`` when ``score < 1 - tol``
- ``improved``   when ``score > 1 + tol``
- ``same``       otherwise
- ``only in A`` / ``only in B`` when the other run lacks the figure (reported, not a
  regression: a step that did not run shows in that run's own report as a failed step).

A change no larger than what the tool can print is ``same``, whatever its percentage:
ze_peer prints two decimals (0.01 GB/s at 32 B: 0.01 → 0.00 is no regression), the gemm
three (TF), ze_peak and oneCCL six significant digits (:func:`resolution`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from multiarc.evaluation import metric_names as names
from multiarc.evaluation.judge import lower_is_better
from multiarc.evaluation.model import Metric
from multiarc.evaluation.reference import canonical_field

if TYPE_CHECKING:
    import pandas as pd

REGRESSION = "regression"
IMPROVED = "improved"
SAME = "same"
ONLY_A = "only in A"
ONLY_B = "only in B"

COLUMNS = ["category", "subcategory", "size", "devices", "unit", "a", "b", "delta_pct", "change"]
_MATCH = ["_category", "_subcategory", "_size", "_devices", "unit", "_occurrence"]


def _frame(metrics: Sequence[Metric]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(
        [(m.category, m.subcategory, m.size, m.devices, m.unit, m.value) for m in metrics],
        columns=["category", "subcategory", "size", "devices", "unit", "value"],
    )
    for column in ("category", "subcategory", "size", "devices"):
        frame["_" + column] = frame[column].map(canonical_field)
    frame["_order"] = range(len(frame))
    frame["_occurrence"] = frame.groupby(_MATCH[:-1], sort=False).cumcount()
    return frame


def resolution(category: str, value: float) -> float:
    """The smallest step a tool prints for a figure of this category."""
    if category == names.P2P:
        return 0.01  # ze_peer: %8.2f (its 2021-10 tables printed four decimals, finer)
    if category == names.GEMM:
        return 0.001  # matrix_mul_mkl: "Average performance: 141.472TF"
    return abs(value) * 1e-5  # ostream's default six significant digits


def compare_metrics(
    a: Sequence[Metric], b: Sequence[Metric], *, tolerance: float = 0.10
) -> pd.DataFrame:
    """One row per matched or unmatched figure, in A's order then B's extra figures."""
    import numpy as np
    import pandas as pd

    left, right = _frame(a), _frame(b)
    merged = left.merge(
        right, on=_MATCH, how="outer", suffixes=("_a", "_b"), indicator=True, sort=False
    )
    for column in ("category", "subcategory", "size", "devices"):
        merged[column] = merged[f"{column}_a"].fillna(merged[f"{column}_b"])
    merged["a"], merged["b"] = merged["value_a"], merged["value_b"]
    merged["delta_pct"] = (merged["b"] - merged["a"]) / merged["a"] * 100
    lower = merged["unit"].map(lower_is_better).astype(bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(lower, merged["a"] / merged["b"], merged["b"] / merged["a"])
    step = np.where(
        merged["category"].map(canonical_field) == canonical_field(names.P2P),
        0.01,
        np.where(
            merged["category"].map(canonical_field) == canonical_field(names.GEMM),
            0.001,
            merged["a"].abs() * 1e-5,
        ),
    )
    within = (merged["b"] - merged["a"]).abs() <= 1.5 * step  # both rounded: half a step each
    change = np.select(
        [
            merged["_merge"] == "left_only",
            merged["_merge"] == "right_only",
            within,
            score < 1 - tolerance,
            score > 1 + tolerance,
        ],
        [ONLY_A, ONLY_B, SAME, REGRESSION, IMPROVED],
        default=SAME,
    )
    merged["change"] = change
    merged["_sort_a"] = merged["_order_a"].fillna(np.inf)
    merged["_sort_b"] = merged["_order_b"].fillna(-1)
    merged = merged.sort_values(["_sort_a", "_sort_b"], kind="stable")
    result = merged[COLUMNS].reset_index(drop=True)
    result["delta_pct"] = result["delta_pct"].round(2)
    return pd.DataFrame(result)


def change_counts(table: pd.DataFrame) -> dict[str, int]:
    counts = table["change"].value_counts()
    return {c: int(counts.get(c, 0)) for c in (REGRESSION, IMPROVED, SAME, ONLY_A, ONLY_B)}
