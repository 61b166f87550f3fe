"""Figures written as files (PNG); the only home of matplotlib."""

from .figures import plot_difference, plot_message, plot_spectrum

__all__ = ["plot_difference", "plot_message", "plot_spectrum"]
