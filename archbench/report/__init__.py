"""Tables (pandas) and their exporters, and plots."""

from .export import EXPORT_FORMATS, export_table, write_json

__all__ = ["export_table", "write_json", "EXPORT_FORMATS"]
