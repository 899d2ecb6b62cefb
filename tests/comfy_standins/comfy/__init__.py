"""Stand-in for the ``comfy`` package (only what civkit's nodes touch)."""
