"""Smol-GS: the per-scene compact codec trained from a capture (arXiv 2512.00850)."""
