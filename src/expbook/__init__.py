"""expbook: a git-native experiment registry, sweeps and statistics over DVC experiments.

The CLI lives in `expbook.cli`; the Python API is `expbook.registry.load(repo)`.
"""

__version__ = "0.1.0"
