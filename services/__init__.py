"""Mission Pulse: ingest, scorer and API (docs/architecture.md)."""

from services.native import remove_stale

# Before any compiled module can be imported: one older than its source would run the old code.
remove_stale()
