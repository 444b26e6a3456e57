"""Fitted trees checked for shape after loading and before any prediction.

scikit-learn walks a fitted tree's node arrays in compiled code without bounds checks, so a
crafted `Tree` or `TreePredictor` (both trusted: random forests and gradient boosting are
made of them) could make a prediction read outside its arrays. A node's children must come
after it and inside the tree, and the feature it splits on must be one its model receives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monitor.errors import ArtifactRefused

# More objects than any real model holds; a file nesting deeper is refused, not walked.
MAX_OBJECTS = 1_000_000


def check_fitted_trees(estimator: Any) -> None:
    """Raise ArtifactRefused if any fitted tree inside `estimator` is malformed."""
    from sklearn.base import BaseEstimator

    seen: set[int] = set()
    stack = [estimator]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if len(seen) > MAX_OBJECTS:
            raise ArtifactRefused("artifact holds more objects than any model could")
        if isinstance(item, BaseEstimator):
            _check_estimator(item)
            stack.extend(vars(item).values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, np.ndarray) and item.dtype == object:
            stack.extend(item.ravel().tolist())


def _check_estimator(estimator: Any) -> None:
    features = getattr(estimator, "n_features_in_", None)
    tree = vars(estimator).get("tree_")
    if tree is not None:
        _check_tree(tree, features)
    if features is not None and not hasattr(estimator, "estimators_features_"):
        # Ensembles hand their own validated input to their trees unchecked (bagging picks
        # columns with numpy indexing, which is checked, hence the exception).
        for member in np.asarray(vars(estimator).get("estimators_", []), dtype=object).ravel():
            inner = getattr(member, "n_features_in_", features)
            if inner != features:
                raise ArtifactRefused(
                    f"artifact holds a malformed model: a member of {type(estimator).__name__} "
                    f"expects {inner} features, the ensemble {features}"
                )
    for predictors in vars(estimator).get("_predictors", None) or []:
        for predictor in predictors:
            _check_predictor(predictor, features)


def _check_tree(tree: Any, features: int | None) -> None:
    from sklearn.tree._tree import Tree

    if not isinstance(tree, Tree):
        raise ArtifactRefused(f"artifact holds a malformed tree: tree_ is {type(tree).__name__}")
    if features is not None and tree.n_features != features:
        raise ArtifactRefused(
            f"artifact holds a malformed tree: {tree.n_features} features, its model {features}"
        )
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    leaf = (left == -1) & (right == -1)
    _check_nodes(tree.node_count, left, right, leaf, feature, tree.n_features)


def _check_predictor(predictor: Any, features: int | None) -> None:
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    if not isinstance(predictor, TreePredictor) or features is None:
        raise ArtifactRefused("artifact holds a malformed gradient boosting predictor")
    nodes = predictor.nodes
    leaf = nodes["is_leaf"] == 1
    _check_nodes(len(nodes), nodes["left"], nodes["right"], leaf, nodes["feature_idx"], features)
    categorical = ~leaf & (nodes["is_categorical"] == 1)
    bitsets = min(len(predictor.raw_left_cat_bitsets), len(predictor.binned_left_cat_bitsets))
    if (nodes["bitset_idx"][categorical] >= bitsets).any():
        raise ArtifactRefused("artifact holds a malformed tree: a category set out of range")


def _check_nodes(count, left, right, leaf, feature, features: int) -> None:
    left, right, feature = (np.asarray(a, dtype=np.int64) for a in (left, right, feature))
    index = np.arange(len(left))
    inside = (left > index) & (left < count) & (right > index) & (right < count)
    splits = (feature >= 0) & (feature < features)
    if len(left) != count or not (leaf | (inside & splits)).all():
        raise ArtifactRefused(
            "artifact holds a malformed tree: a node points outside its tree or splits on "
            "a feature its model does not receive"
        )
