"""SplatLab engine: scenes, formats, renderers, training, codecs. Pure Python + torch; no Qt."""

__version__ = "0.1.0"
