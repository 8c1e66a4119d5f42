"""Markdown with LaTeX math, rendered to HTML with MathML (no JavaScript, no CDN).

Math is written ``$inline$`` or ``$$display$$``; a literal dollar sign is ``\\$``. Math spans
are cut out before Markdown sees them (so ``_`` and ``*`` inside math stay math), converted
with latex2mathml, and put back. A LaTeX command latex2mathml does not know is an error,
not a silent red ``\\command`` on the page.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert as _latex_to_mathml
from markdown_it import MarkdownIt

# $$...$$ first (may span lines), then $...$ on one line; \$ is a literal dollar.
_MATH = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$"  # display
    r"|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\s\\])\$(?!\$)",  # inline
    re.DOTALL,
)
_UNKNOWN_COMMAND = re.compile(r">\\([A-Za-z]+)<")
_PLACEHOLDER = "MLNBMATH{:04d}X"

_md = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def find_math(text: str) -> list[tuple[bool, str]]:
    """Every math span in ``text`` as ``(display, latex)`` pairs, in order."""
    return [(m.group(1) is not None, m.group(1) or m.group(2)) for m in _MATH.finditer(text)]


def latex_to_mathml(latex: str, display: bool = False) -> str:
    """One LaTeX formula as a MathML ``<math>`` element.

    Raises
    ------
    ValueError
        If the formula cannot be converted or uses a command the converter does not know.
    """
    try:
        out = _latex_to_mathml(latex.strip(), display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises many exception types
        raise ValueError(f"cannot convert LaTeX {latex!r}: {exc}") from None
    unknown = _UNKNOWN_COMMAND.search(out)
    if unknown:
        raise ValueError(f"LaTeX {latex!r} uses \\{unknown.group(1)}, which is not supported")
    return out


def render_markdown(text: str) -> str:
    """Markdown with math as an HTML fragment. Raw HTML in ``text`` is escaped, not passed."""
    formulas: list[str] = []

    def stash(match: re.Match) -> str:
        display = match.group(1) is not None
        formulas.append(latex_to_mathml(match.group(1) or match.group(2), display))
        token = _PLACEHOLDER.format(len(formulas) - 1)
        return f"\n\n{token}\n\n" if display else token

    body = _md.render(_MATH.sub(stash, text).replace("\\$", "&#36;"))
    for i, mathml in enumerate(formulas):
        token = _PLACEHOLDER.format(i)
        body = body.replace(f"<p>{token}</p>", f'<div class="math-display">{mathml}</div>')
        body = body.replace(token, mathml)
    return body


def render_inline(text: str) -> str:
    """A one-line string (a summary, a title) with math, escaped, without a <p> wrapper."""
    parts, last = [], 0
    for m in _MATH.finditer(text):
        parts.append(html.escape(text[last : m.start()].replace("\\$", "$")))
        parts.append(latex_to_mathml(m.group(1) or m.group(2), m.group(1) is not None))
        last = m.end()
    parts.append(html.escape(text[last:].replace("\\$", "$")))
    return "".join(parts)
