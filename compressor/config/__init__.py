"""Recipe schema, loading and the checks every command runs before any compute."""

from compressor.config.loader import load_recipe, save_resolved, section_hash, validate_recipe
from compressor.config.schema import Recipe

__all__ = ["Recipe", "load_recipe", "save_resolved", "section_hash", "validate_recipe"]
