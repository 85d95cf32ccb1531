"""Data sources (generated market, real files, generic layout), validation and point-in-time helpers."""
