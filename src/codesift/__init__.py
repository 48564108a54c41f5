"""codesift: train a small code embedding model from scratch and search code with it."""

__version__ = "0.1.0"
