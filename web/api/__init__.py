"""The JSON API under /api/v1: reads (`reads.py`), actions (`actions.py`) and incidents
(`incidents.py`), each registering its views on the route table in `routes.py`; the
modules do not import each other."""

from web.api import actions, incidents, reads  # noqa: F401  (importing registers the views)
from web.api.routes import bp

__all__ = ["bp"]
