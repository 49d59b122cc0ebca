"""recollection: test the backpropagation-based recollection hypothesis."""

__version__ = "0.1.0"  # a plain literal: pyproject.toml reads it without importing the package
