"""The package version (one place; ``krea_async.__version__`` re-exports it)."""

__version__ = "0.1.0"
