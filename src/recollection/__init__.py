"""recollection: test the backpropagation-based recollection hypothesis."""

__version__ = "0.1.0"
