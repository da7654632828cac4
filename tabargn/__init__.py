"""tabargn: tabular synthetic data with a TabularARGN-style any-order autoregressive model."""

__version__ = "0.1.0"
__all__ = ["__version__"]
