"""Model artifacts: skops files loaded with an explicit list of trusted types.

An artifact never runs arbitrary pickle code: a plain pickle is refused, and a skops file
naming a type outside skops' defaults and Driftwise's trusted prefixes is refused with
the types it names. DRIFTWISE_TRUSTED_TYPES adds comma-separated exact type names.
"""

from __future__ import annotations

import hashlib
import zipfile
from io import BytesIO
from typing import Any

import skops.io as sio

from monitor.errors import ArtifactRefused
from monitor.settings import current_settings

# Estimators from these libraries are data, not code, when skops rebuilds them.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.", "collections.OrderedDict")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def untrusted_types(data: bytes) -> list[str]:
    """Types the artifact names that are neither skops defaults nor trusted here."""
    if not zipfile.is_zipfile(BytesIO(data)):
        raise ArtifactRefused("not a skops file (plain pickles are never loaded)")
    try:
        names = sio.get_untrusted_types(data=data)
    except Exception as error:  # noqa: BLE001 - any failure to read the schema means refuse
        raise ArtifactRefused(f"not a readable skops file: {error}") from None
    extra = current_settings().extra_trusted_types
    return [name for name in names if not name.startswith(TRUSTED_PREFIXES) and name not in extra]


def load_artifact(data: bytes) -> Any:
    """The estimator in a skops artifact, or ArtifactRefused naming what is wrong."""
    refused = untrusted_types(data)
    if refused:
        raise ArtifactRefused(
            f"artifact names untrusted types: {', '.join(refused)} "
            "(add them to DRIFTWISE_TRUSTED_TYPES only if you trust their code)"
        )
    trusted = sio.get_untrusted_types(data=data)
    try:
        return sio.loads(data, trusted=trusted)
    except Exception as error:  # noqa: BLE001
        raise ArtifactRefused(f"artifact cannot be loaded: {error}") from None


def dump_artifact(estimator: Any) -> bytes:
    return sio.dumps(estimator)
