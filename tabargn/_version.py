"""The package version, read once from the installed distribution's metadata.

``pyproject.toml`` is the single place the version is written; this module only reads it, so
every module can import the version without importing the estimator (no import circle).
"""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("tabargn")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
