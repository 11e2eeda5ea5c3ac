"""Side panels of the studio window: thin widgets over the engine and the viewport."""
