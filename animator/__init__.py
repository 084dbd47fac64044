"""Real-time talking-head pose animator: speech or a face in, rig frame choices out."""

__version__ = "0.1.0"
