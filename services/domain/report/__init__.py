"""The Mission Experience report: organisation-level aggregates per hourly and daily window.

See docs/reports.md.
"""
