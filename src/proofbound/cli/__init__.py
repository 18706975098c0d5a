"""Command-line interface (``proofbound ...``)."""
