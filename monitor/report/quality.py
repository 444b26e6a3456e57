"""Data quality of a window against the reference profile: missing values, new categories,
values outside the reference range, and the warnings a person should read."""

from __future__ import annotations

import pandas as pd

from monitor.report.profile import HIGH_CARDINALITY


def data_quality(current: pd.DataFrame, profile: dict) -> tuple[dict, list[str]]:
    """({feature: {missing_share, new_categories, new_category_share, out_of_range_share}},
    warnings)."""
    quality: dict[str, dict] = {}
    warnings: list[str] = []
    rows = len(current)
    for name, facts in profile["columns"].items():
        if not facts["present"]:
            warnings.append(f"{name}: missing from the reference set; not compared")
        if name not in current.columns:
            warnings.append(f"{name}: missing from this window")
            quality[name] = {"missing_share": 1.0}
            continue
        values = current[name]
        present = values.dropna()
        entry = {"missing_share": float(1 - len(present) / rows) if rows else 0.0}
        if present.empty:
            warnings.append(f"{name}: every value in this window is missing")
        if facts["present"] and facts.get("constant"):
            warnings.append(f"{name}: constant in the reference set")
        if facts["categorical"]:
            _categories(name, present, facts, rows, entry, warnings)
        elif facts.get("min") is not None and not present.empty:
            numbers = pd.to_numeric(present, errors="coerce")
            bad = int(numbers.isna().sum())
            if bad:
                warnings.append(f"{name}: {bad} values are not numbers")
            outside = (numbers < facts["min"]) | (numbers > facts["max"])
            entry["out_of_range_share"] = float(outside.sum() / rows)
        quality[name] = entry
    return quality, warnings


def _categories(
    name: str, present: pd.Series, facts: dict, rows: int, entry: dict, warnings: list[str]
) -> None:
    unique = int(present.nunique())
    if unique > HIGH_CARDINALITY or facts.get("unique", 0) > HIGH_CARDINALITY:
        warnings.append(
            f"{name}: high cardinality ({unique} values here, {facts.get('unique')} in the "
            "reference); drift on it is weak evidence"
        )
    known = facts.get("categories")
    if known is None or not facts["present"]:
        return
    seen = present.astype(str)
    new = seen[~seen.isin(set(known))]
    entry["new_categories"] = sorted(new.unique().tolist())[:20]
    entry["new_category_count"] = int(new.nunique())
    entry["new_category_share"] = float(len(new) / rows) if rows else 0.0
