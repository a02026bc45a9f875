"""Recipe schema and loading."""

from compressor.config.loader import load_recipe, save_resolved, section_hash
from compressor.config.schema import Recipe

__all__ = ["Recipe", "load_recipe", "save_resolved", "section_hash"]
