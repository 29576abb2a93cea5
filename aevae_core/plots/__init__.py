"""Plotly figures and image mosaics: pure functions, arrays and metric rows in."""
