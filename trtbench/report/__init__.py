"""Rendering: the terminal summary table, and the HTML/markdown comparison reports."""
