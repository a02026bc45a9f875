"""The run report: Markdown with plots, plus JSON, built only from files the stages wrote."""

from compressor.report.report import write_report

__all__ = ["write_report"]
