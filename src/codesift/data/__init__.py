"""Data pipeline: sources -> files -> cleaned, deduplicated code units -> training pairs."""
