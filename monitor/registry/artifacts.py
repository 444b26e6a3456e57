"""Model artifacts: skops files checked against exact trusted types before anything loads them.

A skops file is a tree of nodes, each naming the object it rebuilds (`module.Class`) and
the loader that rebuilds it. The check reads that tree without importing or calling
anything and refuses the file unless every node is trusted:

- a node that rebuilds an instance (an estimator, an array, a dict, a fitted tree...)
  must name a class from `trusted_classes()`, exactly;
- a node that hands over a callable (a function, a bound method, a `partial`, an
  `operator` getter) is never trusted by default: the class allowlist is of things that
  are data, and a function is code. FunctionTransformer with a user function needs that
  function named in DRIFTWISE_TRUSTED_TYPES;
- a loader this code does not know is refused;
- once rebuilt, fitted trees are checked for shape (`fitted_trees.py`) before any
  prediction can walk them.

A plain pickle is never loaded. DRIFTWISE_TRUSTED_TYPES adds comma-separated exact names,
as the refusal message spells them; prefixes and wildcards are refused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
import zipfile
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import skops.io as sio
from skops.io.exceptions import UntrustedTypesFoundException

from monitor.errors import ArtifactRefused, ArtifactUntrusted
from monitor.registry.fitted_trees import check_fitted_trees
from monitor.settings import current_settings

# Loaders that rebuild an instance of the class the node names.
INSTANCE_LOADERS = frozenset(
    {
        "ObjectNode",
        "ConstructorFromReduceNode",
        "DictNode",
        "DefaultDictNode",
        "ListNode",
        "SetNode",
        "TupleNode",
        "SliceNode",
        "BytesNode",
        "BytearrayNode",
        "JsonNode",
        "NdArrayNode",
        "MaskedArrayNode",
        "DTypeNode",
        "RandomStateNode",
        "RandomGeneratorNode",
        "SparseMatrixNode",
        "TreeNode",
        "LossNode",
    }
)
# A class object handed over as a value (e.g. `dtype=np.float64`); skops resolves the name
# with getattr, so a function named here would be handed over too.
TYPE_LOADERS = frozenset({"TypeNode"})
# Loaders that hand over something callable.
CALLABLE_LOADERS = frozenset({"FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode"})
# A reference to a node met earlier in the same file: nothing new is named.
REFERENCE_LOADERS = frozenset({"CachedNode"})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.cache
def trusted_classes() -> frozenset[str]:
    """Classes that are data once rebuilt: what a fitted scikit-learn model is made of."""
    return frozenset(_sklearn_classes() | _numpy_classes() | _scipy_classes() | _python_classes())


def _all_estimators(all_estimators, attempts: int = 5) -> list:
    """scikit-learn's estimators. Its walk of its own packages reads `sys.modules` right
    after each import, and a module another thread was importing at that moment (a daemon
    builds reports while it retrains) can be missing there: the walk is tried again."""
    for attempt in range(attempts):
        try:
            return [(n, c) for n, c in all_estimators() if c.__module__.startswith("sklearn.")]
        except KeyError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)
    return []


def _sklearn_classes() -> set[str]:
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree
    from sklearn.utils import Bunch, all_estimators
    from skops.io._sklearn import ALLOWED_LOSSES
    from skops.io._trusted_types import SKLEARN_INTERNAL_TYPE_NAMES

    estimators = {_name(cls) for _, cls in _all_estimators(all_estimators)}
    # Fitted trees, the binned trees of hist gradient boosting, and the loss and link
    # objects gradient boosting and SGD keep (the last two as skops itself trusts them).
    parts = {_name(Tree), _name(TreePredictor), _name(Bunch)}
    return (
        estimators | parts | set(SKLEARN_INTERNAL_TYPE_NAMES) | {_name(x) for x in ALLOWED_LOSSES}
    )


def _numpy_classes() -> set[str]:
    import numpy as np
    from skops.io._trusted_types import (
        NUMPY_DTYPE_TYPE_NAMES,
        NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES,
    )

    arrays = {"numpy.ndarray", "numpy.dtype", _name(np.ma.MaskedArray)}
    random = {_name(np.random.RandomState), _name(np.random.Generator)}
    return (
        arrays | random | set(NUMPY_DTYPE_TYPE_NAMES) | set(NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES)
    )


def _scipy_classes() -> set[str]:
    import scipy.sparse as sparse

    kinds = (sparse.spmatrix, sparse.sparray)
    return {
        _name(cls)
        for cls in vars(sparse).values()
        if isinstance(cls, type) and issubclass(cls, kinds) and cls not in kinds
    }


def _python_classes() -> set[str]:
    builtins = ("dict", "list", "tuple", "set", "str", "int", "float", "bool", "slice")
    plain = {f"builtins.{name}" for name in (*builtins, "bytes", "bytearray")}
    return plain | {"collections.OrderedDict", "collections.defaultdict"}


def extra_trusted() -> frozenset[str]:
    """Exact names from DRIFTWISE_TRUSTED_TYPES (the settings refuse prefixes and wildcards)."""
    return current_settings().extra_trusted_types


def _nodes(tree: Any) -> Iterator[dict]:
    """Every node of a skops schema, however deeply nested (bounded by the file's size)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _named(node: dict) -> str:
    name = f"{node.get('__module__')}.{node.get('__class__')}"
    if node["__loader__"] == "MethodNode":
        content = node.get("content")
        return f"{name}.{content.get('func') if isinstance(content, dict) else None}"
    return name


def _audit(schema: dict, extra: frozenset[str]) -> tuple[set[str], set[str]]:
    """(the names the schema uses, those of them not trusted)."""
    classes = trusted_classes()
    named, refused = set(), set()
    for node in _nodes(schema):
        loader, name = node["__loader__"], _named(node)
        if not isinstance(loader, str):
            refused.add(f"{name} (unknown skops loader {loader!r})")
            continue
        if loader in REFERENCE_LOADERS:
            continue
        named.add(name)
        if name in extra:
            continue
        if loader in INSTANCE_LOADERS or loader in TYPE_LOADERS:
            if name not in classes:
                refused.add(name)
        elif loader in CALLABLE_LOADERS:
            refused.add(name)
        else:
            refused.add(f"{name} (unknown skops loader {loader})")
    return named, refused


def _schema(data: bytes) -> dict:
    if not zipfile.is_zipfile(BytesIO(data)):
        raise ArtifactRefused("not a skops file (plain pickles are never loaded)")
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError) as error:
        raise ArtifactRefused(f"not a readable skops file: {error}") from None
    if not isinstance(schema, dict) or "__loader__" not in schema:
        raise ArtifactRefused("not a readable skops file: schema.json holds no object")
    return schema


def untrusted_types(data: bytes) -> list[str]:
    """Every name in the artifact that is not trusted, without importing or calling any."""
    return sorted(_audit(_schema(data), extra_trusted())[1])


def check_artifact(data: bytes) -> list[str]:
    """Refuse the artifact unless every name in it is trusted; the names it uses."""
    named, refused = _audit(_schema(data), extra_trusted())
    if refused:
        raise ArtifactUntrusted(sorted(refused))
    return sorted(named)


def load_artifact(data: bytes) -> Any:
    """The estimator in a skops artifact, or ArtifactRefused naming what is wrong."""
    named = check_artifact(data)
    try:
        # skops audits the file again against exactly the names checked here, and also
        # sees names hidden inside states (a random generator's bit generator).
        estimator = sio.loads(data, trusted=named)
    except UntrustedTypesFoundException:
        raise ArtifactUntrusted(
            sorted(set(sio.get_untrusted_types(data=data)) - set(named))
        ) from None
    except Exception as error:  # noqa: BLE001
        raise ArtifactRefused(f"artifact cannot be loaded: {error}") from None
    check_fitted_trees(estimator)
    return estimator


def dump_artifact(estimator: Any) -> bytes:
    return sio.dumps(estimator)
