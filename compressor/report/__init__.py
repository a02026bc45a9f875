"""The run report: Markdown with plots, plus JSON, built only from files the stages wrote."""
