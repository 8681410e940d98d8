"""One thin pytest test per check id, grouped by area (module) and stage (marker)."""
