"""The recipe: its schema, reading and parsing (a leaf: the semantic checks live in `compressor.recipe_loading`)."""

from compressor.config.loader import parse_recipe, save_resolved, section_hash
from compressor.config.schema import Recipe

__all__ = ["Recipe", "parse_recipe", "save_resolved", "section_hash"]
