"""The JSON API under /api/v1: reads in `reads.py`, actions in `actions.py`."""

from web.api.reads import bp

__all__ = ["bp"]
