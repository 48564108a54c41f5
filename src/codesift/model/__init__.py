"""The encoder: a Hugging Face transformers model built from the recipe's `model` section."""
