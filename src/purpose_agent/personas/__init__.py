"""Personas: agents defined by configuration (style, knowledge category, model settings), not by code."""
