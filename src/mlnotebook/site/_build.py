"""Write the notebook as a static HTML site that reads offline (``mlnb build``).

Layout of the output folder::

    index.html                      chapters and their entries
    entries/<entry-id>.html         one page per entry
    figures/<experiment-id>/*.svg   figures copied from the results folder
    style.css, code.css             the site's style and the code highlighting

Every file is written atomically, so a reader (or a browser left open) never sees half a
page. Results are read from the folder the experiment runner writes; a missing or
unreadable ``results.json`` or ``verify.json`` is treated as "not run yet".
"""

from __future__ import annotations

import re
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

from mlnotebook._io import atomic_write_bytes, atomic_write_text, read_json
from mlnotebook.entries import Notebook, load_notebook
from mlnotebook.site._pages import ExperimentResults, code_css, entry_page, index_page

# Names that become file or folder names in the site: no separators, no leading dot.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def build_site(
    out_dir: str | Path,
    *,
    notebook: Notebook | None = None,
    results_dir: str | Path | None = None,
) -> Path:
    """Write the site into ``out_dir`` and return the path of ``index.html``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into; created if needed. Files already there are overwritten,
        other files are left alone.
    notebook : Notebook, optional
        The entries to publish; default :func:`mlnotebook.entries.load_notebook`.
    results_dir : str or Path, optional
        Where the experiment runner wrote ``<experiment-id>/results.json`` and
        ``verify.json``. None shows every experiment as not run yet.

    Raises
    ------
    ValueError
        If an entry id cannot be used as a file name.
    """
    out = Path(out_dir)
    notebook = notebook if notebook is not None else load_notebook()
    results = Path(results_dir) if results_dir is not None else None
    entries = notebook.by_chapter()
    for entry in entries:
        if not _SAFE_NAME.match(entry.id):
            raise ValueError(f"entry id {entry.id!r} cannot be used as a page name")

    verify_created, verify_rows = _read_verify(results)
    verify_by_concept: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in verify_rows:
        verify_by_concept[str(row.get("concept"))].append(row)

    _write_assets(out)
    experiments: dict[str, ExperimentResults] = {}
    for i, entry in enumerate(entries):
        for exp_id in entry.experiments:
            if exp_id not in experiments:
                experiments[exp_id] = _collect_experiment(exp_id, results, out)
        html = entry_page(
            entry,
            notebook,
            experiments=[experiments[exp_id] for exp_id in entry.experiments],
            verify_rows=verify_by_concept.get(entry.id, []),
            verify_created=verify_created,
            prev=entries[i - 1] if i > 0 else None,
            next_=entries[i + 1] if i + 1 < len(entries) else None,
        )
        atomic_write_text(out / "entries" / f"{entry.id}.html", html)

    index = out / "index.html"
    atomic_write_text(index, index_page(notebook, verify_by_concept))
    return index


def _write_assets(out: Path) -> None:
    style = resources.files("mlnotebook.site").joinpath("assets", "style.css").read_bytes()
    atomic_write_bytes(out / "style.css", style)
    atomic_write_text(out / "code.css", code_css())


def _read_verify(results: Path | None) -> tuple[str | None, list[dict[str, Any]]]:
    """``verify.json``'s creation time and its rows; nothing if missing or malformed."""
    data = read_json(results / "verify.json") if results is not None else None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        return None, []
    created = data.get("created")
    rows = [row for row in data["rows"] if isinstance(row, dict)]
    return (created if isinstance(created, str) else None), rows


def _collect_experiment(exp_id: str, results: Path | None, out: Path) -> ExperimentResults:
    """Read one experiment's latest results and copy its figures into the site."""
    if results is None or not _SAFE_NAME.match(exp_id):
        return ExperimentResults(exp_id)
    folder = results / exp_id
    data = read_json(folder / "results.json")
    if not isinstance(data, dict):
        return ExperimentResults(exp_id)
    names = data.get("figures")
    figures: dict[str, str | None] = {}
    for name in names if isinstance(names, list) else []:
        name = str(name)
        figures[name] = _copy_figure(folder, name, out / "figures" / exp_id)
    return ExperimentResults(exp_id, data, figures)


def _copy_figure(folder: Path, name: str, dest: Path) -> str | None:
    """Copy ``<name>.svg`` (else ``<name>.png``) into ``dest``; its path from the site root."""
    if not _SAFE_NAME.match(name):
        return None
    for suffix in (".svg", ".png"):
        source = folder / f"{name}{suffix}"
        try:
            data = source.read_bytes()
        except OSError:
            continue
        target = atomic_write_bytes(dest / source.name, data)
        return f"figures/{dest.name}/{target.name}"
    return None
