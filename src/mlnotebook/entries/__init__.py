"""The concept notebook: one Markdown file with YAML front matter per concept.

Files live in ``entries/<chapter>/<id>.md``; each chapter folder has a ``_chapter.yaml``
with its title and order. Adding a concept means adding a file: the loader finds it.
"""

from mlnotebook.entries._loader import (
    Chapter,
    Entry,
    EntryError,
    Notebook,
    Reference,
    load_notebook,
    parse_entry,
)

__all__ = [
    "Chapter",
    "Entry",
    "EntryError",
    "Notebook",
    "Reference",
    "load_notebook",
    "parse_entry",
]
