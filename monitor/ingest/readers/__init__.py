"""The readers, one per style of source: lines (from a byte offset), table (whole files), sql (a query from a watermark)."""
