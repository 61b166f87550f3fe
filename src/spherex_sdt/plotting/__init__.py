"""Figures written as files: PNG (matplotlib, its only home) and standalone interactive HTML (bokeh)."""

from .figures import (DETECTOR_COLOURS, LightCurveFigure, SpectrumFigure, draw_compass, draw_ellipses,
                      plot_difference, plot_light_curve, plot_message, plot_overlap, plot_significance, plot_spectrum,
                      sky_directions)
from .interactive import explore_page

__all__ = ["DETECTOR_COLOURS", "draw_compass", "draw_ellipses", "sky_directions", "plot_difference", "plot_message",
           "plot_overlap", "plot_significance", "plot_spectrum", "plot_light_curve", "SpectrumFigure",
           "LightCurveFigure", "explore_page"]
