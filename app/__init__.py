"""SplatLab desktop studio (PySide6); holds no algorithm."""
