"""Check the notebook's entries: schema, links between entries, and that all math renders.

Usage: python tools/check_entries.py [CHAPTER ...]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mlnotebook.entries import load_notebook  # noqa: E402
from mlnotebook.entries._markup import render_inline, render_markdown  # noqa: E402

nb = load_notebook()
chapters = set(sys.argv[1:])
bad = 0
for problem in nb.problems():
    if not chapters or any(f"/{c}/" in problem for c in chapters):
        print("PROBLEM", problem)
        bad += 1
for e in nb.by_chapter():
    if chapters and e.chapter not in chapters:
        continue
    try:
        render_markdown(e.body)
        render_inline(e.summary)
        render_inline(e.takeaway)
    except ValueError as exc:
        print("MATH", e.path, exc)
        bad += 1
print(f"{len(nb)} entries, {bad} problems")
sys.exit(1 if bad else 0)
