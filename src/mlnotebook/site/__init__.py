"""The notebook as a static HTML site that reads offline: ``mlnb build``.

Math is MathML, code is highlighted at build time, and every link is relative, so the
folder can be opened from disk or served as it is.
"""

from mlnotebook.site._build import build_site

__all__ = ["build_site"]
