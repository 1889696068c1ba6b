"""The version of femvalley (also ``femvalley.__version__``), written into every result file."""

__all__ = ["__version__"]

__version__ = "0.1.0"
