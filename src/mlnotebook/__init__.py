"""mlnotebook: a living machine-learning notebook.

Every concept is an *entry* (``mlnotebook.entries``) that explains the idea, points at a
from-scratch implementation verified against the production library (``mlnb verify``),
and names the experiments (``mlnotebook.experiments``) that illustrate it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlnotebook")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
