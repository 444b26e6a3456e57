"""Ingestion: every source kind turns raw logs into canonical records, read once."""
