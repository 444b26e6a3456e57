"""The SQL store: engine, sessions, schema check and typed models."""

from monitor.store.db import get_engine, reset_engines, session_scope

__all__ = ["get_engine", "reset_engines", "session_scope"]
