"""The HTML of the site's pages, built from small functions that return strings.

Every piece of text that comes from an entry or a results file goes through
:func:`html.escape` (or the entry renderers, which escape too) before it reaches a page.
Nothing here touches the file system; :mod:`mlnotebook.site._build` writes the pages.
"""

from __future__ import annotations

import html
import inspect
import json
import logging
import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from numbers import Real
from pathlib import Path
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from mlnotebook.entries import Entry, Notebook
from mlnotebook.entries._loader import resolve_dotted
from mlnotebook.entries._markup import render_inline, render_markdown

log = logging.getLogger(__name__)

SITE_TITLE = "mlnotebook"
CODE_CSS_CLASS = "highlight"


@dataclass(frozen=True)
class ExperimentResults:
    """What an entry page shows for one experiment.

    ``results`` is the parsed ``results.json`` (None when the experiment was never run or
    its file is unreadable); ``figures`` maps each figure name to its path relative to the
    site root, or to None when the figure file could not be copied.
    """

    id: str
    results: dict[str, Any] | None = None
    figures: dict[str, str | None] = field(default_factory=dict)


def code_css() -> str:
    """The stylesheet for highlighted code, from the same formatter that renders it."""
    return HtmlFormatter(cssclass=CODE_CSS_CLASS).get_style_defs(f".{CODE_CSS_CLASS}") + "\n"


# ---------------------------------------------------------------------------- small pieces
def esc(value: Any) -> str:
    """Any value as escaped HTML text (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def _inline(text: str) -> str:
    """A one-line entry string with math; plain escaped text if its math does not convert."""
    try:
        return render_inline(text)
    except ValueError as exc:
        log.warning("%s", exc)
        return esc(text)


def _markdown(text: str) -> str:
    """An entry body; if its math does not convert, say so and show the text as written."""
    try:
        return render_markdown(text)
    except ValueError as exc:
        log.warning("%s", exc)
        return (
            f'<p class="error">This text could not be rendered: {esc(exc)}</p>\n'
            f'<pre class="raw">{esc(text)}</pre>'
        )


def link(url: str, text_html: str) -> str:
    """``text_html`` linked to ``url`` when it is an http(s) URL, else left unlinked."""
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        return f'<a href="{esc(url)}">{text_html}</a>'
    return text_html


def cell(value: Any) -> str:
    """A value from a results file as the text of a table cell."""
    if value is None:
        return "&ndash;"
    if isinstance(value, bool):
        return esc(str(value).lower())
    if isinstance(value, Real) and not isinstance(value, int):
        return esc(f"{float(value):.6g}")
    if isinstance(value, (list, dict)):
        return esc(json.dumps(value))
    return esc(value)


def table(columns: list[Any], rows: list[list[Any]], *, css_class: str = "data") -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="table-wrap"><table class="{css_class}">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>"
    )


def page(title: str, body_html: str, *, root: str = "") -> str:
    """A whole HTML document; ``root`` is the relative path from the page to the site root."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="stylesheet" href="{root}style.css">
<link rel="stylesheet" href="{root}code.css">
</head>
<body>
<header class="site-header"><a href="{root}index.html">{SITE_TITLE}</a></header>
<main>
{body_html}
</main>
<footer class="site-footer">A living machine-learning notebook. Built with
<code>mlnb build</code>; readable offline.</footer>
</body>
</html>
"""


# ---------------------------------------------------------------------------- index page
def _badges(entry: Entry, verify_rows: list[dict[str, Any]]) -> str:
    badges = []
    if entry.implementation:
        badges.append('<span class="badge implemented">implemented</span>')
    if verify_rows:
        if all(row.get("passed") is True for row in verify_rows):
            badges.append('<span class="badge verified">verified</span>')
        else:
            badges.append('<span class="badge failed">verify failed</span>')
    if entry.experiments:
        badges.append('<span class="badge experiment">experiment</span>')
    return " ".join(badges)


def _entry_item(entry: Entry, verify_rows: list[dict[str, Any]]) -> str:
    badges = _badges(entry, verify_rows)
    return (
        f'<li><a href="entries/{esc(entry.id)}.html">{_inline(entry.title)}</a>'
        + (f' <span class="badges">{badges}</span>' if badges else "")
        + f'<br><span class="summary">{_inline(entry.summary)}</span></li>'
    )


def index_page(notebook: Notebook, verify_by_concept: dict[str, list[dict[str, Any]]]) -> str:
    """The front page: one section per chapter, listing its entries."""
    groups = [
        (ch.id, _inline(ch.title), _inline(ch.summary), notebook.by_chapter(ch.id))
        for ch in notebook.chapters.values()
    ]
    orphans = [e for e in notebook.by_chapter() if e.chapter not in notebook.chapters]
    if orphans:
        groups.append(("-other", "Other entries", "Entries whose chapter is not known.", orphans))
    sections, contents = [], []
    for chapter_id, title_html, summary_html, entries in groups:
        items = "\n".join(_entry_item(e, verify_by_concept.get(e.id, [])) for e in entries)
        contents.append(f'<li><a href="#chapter-{esc(chapter_id)}">{title_html}</a></li>')
        sections.append(
            f'<section class="chapter" id="chapter-{esc(chapter_id)}">\n'
            f"<h2>{title_html}</h2>\n<p class=\"chapter-summary\">{summary_html}</p>\n"
            + (f'<ul class="entries">\n{items}\n</ul>' if items else "<p>No entries yet.</p>")
            + "\n</section>"
        )
    n_entries, n_chapters = len(notebook.by_chapter()), len(groups)
    body = (
        f"<h1>{SITE_TITLE}</h1>\n"
        f'<p class="lead">A living machine-learning notebook: {n_entries} entries in '
        f"{n_chapters} chapters. Each entry explains one idea, shows our from-scratch "
        "implementation, how it compares with the reference library, and the experiments "
        "that illustrate it.</p>\n"
        f'<nav class="contents"><ol>\n{"".join(contents)}\n</ol></nav>\n' + "\n".join(sections)
    )
    return page(SITE_TITLE, body)


# ---------------------------------------------------------------------------- entry page
def _references_html(entry: Entry) -> str:
    items = []
    for ref in entry.references:
        authors = ", ".join(esc(a) for a in ref.authors)
        items.append(
            f'<li><span class="authors">{authors}</span> ({esc(ref.year)}). '
            f"{link(ref.url, f'<cite>{esc(ref.title)}</cite>')}</li>"
        )
    return f'<section id="references"><h2>References</h2>\n<ol>\n{"".join(items)}\n</ol></section>'


def _related_html(entry: Entry, notebook: Notebook) -> str:
    items = []
    for rel in entry.related:
        other = notebook.entries.get(rel)
        if other is None:
            items.append(f"<li>{esc(rel)} <span class=\"muted\">(not written yet)</span></li>")
        else:
            items.append(f'<li><a href="{esc(rel)}.html">{_inline(other.title)}</a></li>')
    items_html = "".join(items)
    return f'<section id="related"><h2>Related entries</h2>\n<ul>\n{items_html}\n</ul></section>'


def source_html(dotted: str) -> str:
    """The source of the object ``dotted`` names, highlighted; or why it cannot be shown."""
    caption = f"<code>{esc(dotted)}</code>"
    try:
        obj = resolve_dotted(dotted)
    except Exception as exc:  # an import can fail in any way; the page should still build
        return f'<p class="error">{caption}: could not import it ({esc(exc)}).</p>'
    try:
        lines, first = inspect.getsourcelines(obj)
        filename = Path(inspect.getsourcefile(obj) or "").name
    except (OSError, TypeError) as exc:
        return f'<p class="error">{caption}: its source is not available ({esc(exc)}).</p>'
    where = f' <span class="muted">({esc(filename)}, line {first})</span>' if filename else ""
    code = highlight(textwrap.dedent("".join(lines)), PythonLexer(), HtmlFormatter(
        cssclass=CODE_CSS_CLASS))
    return f'<div class="source">\n<p class="source-caption">{caption}{where}</p>\n{code}</div>'


def _implementation_html(entry: Entry) -> str:
    parts = ['<section id="implementation"><h2>Implementation</h2>']
    if entry.reference_library:
        names = ", ".join(f"<code>{esc(name)}</code>" for name in entry.reference_library)
        parts.append(f'<p class="reference-library">Reference library: {names}</p>')
    if entry.implementation:
        parts.extend(source_html(dotted) for dotted in entry.implementation)
    else:
        parts.append('<p class="muted">No from-scratch implementation yet.</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _when(started: Any) -> str:
    if not isinstance(started, str):
        return ""
    try:
        moment = datetime.fromisoformat(started)
    except ValueError:
        return started
    text = moment.strftime("%Y-%m-%d %H:%M")
    return f"{text} {moment.tzname()}" if moment.tzinfo is not None else text


def _run_line(results: dict[str, Any]) -> str:
    facts = []
    for key in ("profile", "seed", "device"):
        if results.get(key) is not None:
            facts.append(f"{key} <code>{esc(results[key])}</code>")
    when = _when(results.get("started"))
    if when:
        facts.append(f"run {esc(when)}")
    wall = results.get("wall_time_s")
    if isinstance(wall, Real) and not isinstance(wall, bool):
        facts.append(f"wall time {float(wall):.2f} s")
    params = results.get("params")
    if isinstance(params, dict) and params:
        shown = ", ".join(f"{esc(k)}={cell(v)}" for k, v in params.items())
        facts.append(f"params {shown}")
    return f'<p class="run-info">{" &middot; ".join(facts)}</p>' if facts else ""


def _figures_html(figures: dict[str, str | None], root: str) -> str:
    parts = []
    for name, path in figures.items():
        if path is None:
            parts.append(f'<p class="error">Figure {esc(name)} is missing from the results.</p>')
        else:
            parts.append(
                f'<figure><img src="{root}{esc(path)}" alt="{esc(name)}">'
                f"<figcaption>{esc(name)}</figcaption></figure>"
            )
    return "\n".join(parts)


def _results_tables_html(results: dict[str, Any]) -> str:
    parts = []
    metrics = results.get("metrics")
    if isinstance(metrics, dict) and metrics:
        parts.append("<h4>Metrics</h4>")
        parts.append(table(["metric", "value"], [[k, v] for k, v in metrics.items()]))
    tables = results.get("tables")
    if isinstance(tables, dict):
        for name, spec in tables.items():
            if not isinstance(spec, dict):
                continue
            columns, rows = spec.get("columns"), spec.get("rows")
            if not isinstance(columns, list) or not isinstance(rows, list):
                continue
            rows = [row if isinstance(row, list) else [row] for row in rows]
            parts.append(f"<h4>{esc(name)}</h4>")
            parts.append(table(columns, rows))
    return "\n".join(parts)


def experiment_html(experiment: ExperimentResults, *, root: str) -> str:
    """One experiment's latest results, or how to produce them."""
    exp_id = esc(experiment.id)
    results = experiment.results
    if results is None:
        return (
            f'<div class="experiment"><h3><code>{exp_id}</code></h3>\n'
            f'<p class="not-run">not run yet: <code>mlnb run {exp_id}</code></p></div>'
        )
    title = results.get("title")
    heading = f"<code>{exp_id}</code>"
    if isinstance(title, str):
        heading = f"{esc(title)} {heading}"
    return (
        f'<div class="experiment"><h3>{heading}</h3>\n{_run_line(results)}\n'
        f"{_figures_html(experiment.figures, root)}\n{_results_tables_html(results)}\n"
        f'<p class="muted">Run it again: <code>mlnb run {exp_id}</code></p></div>'
    )


def _verify_html(rows: list[dict[str, Any]], created: str | None) -> str:
    body_rows = []
    for row in rows:
        if row.get("error"):
            outcome = f'<span class="fail">error: {esc(row["error"])}</span>'
        elif row.get("passed") is True:
            outcome = '<span class="pass">pass</span>'
        else:
            outcome = '<span class="fail">fail</span>'
        cells = [cell(row.get(k)) for k in ("case", "reference", "max_abs_diff", "tolerance")]
        cells.append(outcome)
        body_rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>" for h in ("case", "reference", "max abs diff", "tolerance", "result")
    )
    when = f' <span class="muted">(checked {esc(_when(created))})</span>' if created else ""
    return (
        f'<section id="verification"><h2>Verification{when}</h2>\n'
        f'<div class="table-wrap"><table class="data verify">\n<thead><tr>{head}</tr></thead>\n'
        f'<tbody>\n{"".join(body_rows)}\n</tbody>\n</table></div></section>'
    )


def _neighbours_html(prev: Entry | None, next_: Entry | None) -> str:
    left, right = "<span></span>", ""  # the empty span keeps "next" on the right
    if prev is not None:
        left = f'<a href="{esc(prev.id)}.html">&larr; {_inline(prev.title)}</a>'
    if next_ is not None:
        right = f'<a href="{esc(next_.id)}.html">{_inline(next_.title)} &rarr;</a>'
    return f'<nav class="neighbours">{left}{right}</nav>'


def entry_page(
    entry: Entry,
    notebook: Notebook,
    *,
    experiments: list[ExperimentResults],
    verify_rows: list[dict[str, Any]],
    verify_created: str | None = None,
    prev: Entry | None = None,
    next_: Entry | None = None,
) -> str:
    """The page of one entry; it lives at ``entries/<id>.html``."""
    root = "../"
    chapter = notebook.chapters.get(entry.chapter)
    crumb = (
        f'<a href="{root}index.html#chapter-{esc(chapter.id)}">{_inline(chapter.title)}</a>'
        if chapter
        else esc(entry.chapter)
    )
    parts = [
        f'<nav class="crumbs"><a href="{root}index.html">Contents</a> &rsaquo; {crumb}</nav>',
        "<article>",
        f"<h1>{_inline(entry.title)}</h1>",
    ]
    if entry.aliases:
        aliases = ", ".join(_inline(a) for a in entry.aliases)
        parts.append(f'<p class="aliases">Also known as: {aliases}</p>')
    parts += [
        f'<p class="summary">{_inline(entry.summary)}</p>',
        f'<aside class="takeaway"><strong>Key takeaway</strong>\n'
        f"<p>{_inline(entry.takeaway)}</p></aside>",
        f'<div class="body">\n{_markdown(entry.body)}\n</div>',
        _references_html(entry),
    ]
    if entry.related:
        parts.append(_related_html(entry, notebook))
    if entry.implementation or entry.reference_library:
        parts.append(_implementation_html(entry))
    if experiments:
        parts.append('<section id="experiments"><h2>Experiments</h2>')
        parts.extend(experiment_html(exp, root=root) for exp in experiments)
        parts.append("</section>")
    if verify_rows:
        parts.append(_verify_html(verify_rows, verify_created))
    parts += ["</article>", _neighbours_html(prev, next_)]
    return page(f"{entry.title} — {SITE_TITLE}", "\n".join(parts), root=root)
