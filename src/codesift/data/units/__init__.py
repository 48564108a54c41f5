"""Per-language unit finders: each walks a tree-sitter tree and yields `Found` units (see base.py)."""
