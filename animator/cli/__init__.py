"""The ``animator`` command: argument parsing only; ``main`` in main.py."""
