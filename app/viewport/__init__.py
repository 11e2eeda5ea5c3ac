"""The 3D viewport: the moderngl splat renderer (no Qt), depth sorting, offscreen rendering, and the Qt widget around them."""
