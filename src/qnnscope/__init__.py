"""qnnscope: trainability and interpretability studies of quantum neural networks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qnnscope")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
