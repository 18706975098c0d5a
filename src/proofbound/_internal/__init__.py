"""Internal helpers. No stability guarantee: import from the public modules instead."""
