"""The static site: every entry gets a page, results and figures show up, text is escaped."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mlnotebook.entries import Chapter, Entry, Notebook, Reference, load_notebook
from mlnotebook.site import build_site

EVIL = "<script>alert(1)</script>"
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
    '<rect width="4" height="4"/></svg>'
)
REF = Reference("A paper", ("A. Author", "B. Author"), 2020, "https://example.org/paper")


def _entry(entry_id: str, chapter: str, **fields) -> Entry:
    defaults = dict(
        title=entry_id.replace("-", " ").title(),
        summary=f"Summary of {entry_id}.",
        takeaway=f"Takeaway of {entry_id}.",
        body=f"Body of {entry_id}.",
        references=(REF,),
    )
    return Entry(id=entry_id, chapter=chapter, **{**defaults, **fields})


@pytest.fixture
def notebook() -> Notebook:
    chapters = [
        Chapter("basics", "Basics", 2, "The first ideas."),
        Chapter("advanced", "Advanced", 5, "Later ideas."),
    ]
    entries = [
        _entry(
            "with-math",
            "basics",
            title="With math",
            aliases=("mathy",),
            body="The update is $\\theta - \\eta g$:\n\n$$L(\\theta) = \\sum_i \\ell_i$$\n",
            related=("evil", "no-such-entry"),
            implementation=("mlnotebook._io.atomic_write_text", "mlnotebook.nope.Missing",
                            "math.sqrt"),
            experiments=("toy-exp", "never-run", "broken"),
            reference_library=("torch.optim.SGD",),
        ),
        _entry(
            "evil",
            "advanced",
            title=f"Evil {EVIL}",
            summary=f"Summary {EVIL}",
            aliases=(f"alias {EVIL}",),
            references=(
                Reference(f"Paper {EVIL}", (f"Eve {EVIL}",), 2021, 'https://x.org/"onmouseover'),
                Reference("Not a web link", ("C. Author",), 2019, "javascript:alert(1)"),
            ),
        ),
        _entry("lost", "nowhere"),
    ]
    return Notebook(entries, chapters)


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    exp = root / "toy-exp"
    exp.mkdir(parents=True)
    results = {
        "id": "toy-exp", "title": "A toy experiment", "entries": ["with-math"],
        "profile": "quick", "params": {"steps": 50}, "seed": 0, "device": "cpu",
        "versions": {"python": "3.11.7"}, "started": "2026-11-23T14:55:00+00:00",
        "wall_time_s": 1.23,
        "metrics": {"final_loss": 1.2e-9, "<i>metric</i>": 3},
        "tables": {
            "summary": {"columns": ["lr", "steps"], "rows": [[0.1, 41], ["<b>x</b>", None]]}
        },
        "figures": ["curve", "../escape", "absent"],
        "data": {},
    }
    (exp / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (exp / "curve.svg").write_text(SVG, encoding="utf-8")
    (exp / "curve.png").write_bytes(b"not used")
    (root / "escape.svg").write_text(SVG, encoding="utf-8")
    (root / "broken").mkdir()
    (root / "broken" / "results.json").write_text("{not json", encoding="utf-8")
    verify = {"created": "2026-11-23T15:00:00+00:00", "rows": [
        {"topic": "t", "check": "c", "concept": "with-math", "case": "lr=0.1",
         "reference": "torch.optim.SGD", "max_abs_diff": 1e-16, "tolerance": 1e-12,
         "passed": True, "error": None},
        {"topic": "t", "check": "c", "concept": "with-math", "case": "lr=9",
         "reference": "torch.optim.SGD", "max_abs_diff": 0.5, "tolerance": 1e-12,
         "passed": False, "error": None},
        {"topic": "t", "check": "c", "concept": "evil", "case": "other-entry-case",
         "reference": "r", "max_abs_diff": 0.0, "tolerance": 0.0, "passed": True, "error": None},
    ]}
    (root / "verify.json").write_text(json.dumps(verify), encoding="utf-8")
    return root


class _TagChecker(HTMLParser):
    """Fails on a closing tag that does not match the open one, or tags left open."""

    VOID = {"meta", "link", "img", "br", "hr", "input", "col", "source", "wbr", "area", "base"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def _check_page(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    checker = _TagChecker()
    checker.feed(text)
    checker.close()
    assert checker.stack == [], f"{path.name}: unclosed {checker.stack}"
    # Offline: nothing is loaded from elsewhere.
    assert not re.search(r"""src\s*=\s*["']?\s*(https?:)?//""", text), path
    assert "<script" not in text, path
    assert not re.search(r"""<link[^>]*href\s*=\s*["']?(https?:)?//""", text), path
    return text


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_builds_index_and_entry_pages(tmp_path, notebook, results_dir):
    index = build_site(tmp_path / "site", notebook=notebook, results_dir=results_dir)
    site = index.parent
    assert index == tmp_path / "site" / "index.html"
    assert (site / "style.css").is_file() and (site / "code.css").is_file()
    for page in _pages(site):
        _check_page(page)

    text = index.read_text(encoding="utf-8")
    for entry in notebook.by_chapter():
        assert f'href="entries/{entry.id}.html"' in text
        assert (site / "entries" / f"{entry.id}.html").is_file()
    assert text.index("Basics") < text.index("Advanced") < text.index("Other entries")
    assert "The first ideas." in text
    assert "badge implemented" in text and "badge experiment" in text
    assert "verify failed" in text  # with-math has a failing row
    assert "badge verified" in text  # evil's only row passes
    assert not list(site.rglob(".*"))  # no temporary files left behind


def test_entry_page_content(tmp_path, notebook, results_dir):
    site = build_site(tmp_path / "site", notebook=notebook, results_dir=results_dir).parent
    text = (site / "entries" / "with-math.html").read_text(encoding="utf-8")
    assert "<math" in text and 'display="block"' in text
    assert "Also known as: mathy" in text
    assert "Key takeaway" in text and "Takeaway of with-math." in text
    assert '<a href="https://example.org/paper"><cite>A paper</cite></a>' in text
    assert "A. Author, B. Author" in text and "(2020)" in text
    assert '<a href="evil.html">' in text and "no-such-entry" in text
    assert "torch.optim.SGD" in text
    # Implementation: highlighted source, or a note saying why not.
    assert 'class="highlight"' in text and "atomic_write_text" in text
    assert "mlnotebook.nope.Missing</code>: could not import" in text
    assert "math.sqrt</code>: its source is not available" in text
    # Experiments.
    assert "A toy experiment" in text
    assert "profile <code>quick</code>" in text and "seed <code>0</code>" in text
    assert "device <code>cpu</code>" in text and "2026-11-23 14:55" in text and "1.23 s" in text
    assert "final_loss" in text and "1.2e-09" in text and "<td>41</td>" in text
    assert "not run yet: <code>mlnb run never-run</code>" in text
    assert "not run yet: <code>mlnb run broken</code>" in text
    # Verify rows of this entry only.
    assert "lr=0.1" in text and "lr=9" in text and "other-entry-case" not in text
    assert '<span class="pass">pass</span>' in text and '<span class="fail">fail</span>' in text


def test_figures_are_copied_and_referenced(tmp_path, notebook, results_dir):
    site = build_site(tmp_path / "site", notebook=notebook, results_dir=results_dir).parent
    text = (site / "entries" / "with-math.html").read_text(encoding="utf-8")
    copied = site / "figures" / "toy-exp" / "curve.svg"
    assert copied.read_text(encoding="utf-8") == SVG
    assert '<img src="../figures/toy-exp/curve.svg" alt="curve">' in text
    # A figure name that would leave the figures folder is not copied; a missing one is noted.
    assert not (site / "figures" / "escape.svg").exists()
    assert sorted(p.name for p in (site / "figures" / "toy-exp").iterdir()) == ["curve.svg"]
    assert "Figure absent is missing" in text


def test_text_from_entries_and_results_is_escaped(tmp_path, notebook, results_dir):
    site = build_site(tmp_path / "site", notebook=notebook, results_dir=results_dir).parent
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for page in _pages(site):
        assert EVIL not in page.read_text(encoding="utf-8")
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f"Evil {escaped}" in index and f"Summary {escaped}" in index
    evil = (site / "entries" / "evil.html").read_text(encoding="utf-8")
    assert f"<title>Evil {escaped}" in evil
    assert f"alias {escaped}" in evil and f"Paper {escaped}" in evil and f"Eve {escaped}" in evil
    assert 'href="https://x.org/&quot;onmouseover"' in evil
    assert "javascript:" not in evil.split("<cite>Not a web link")[0].rsplit("<li>", 1)[-1]
    assert "<cite>Not a web link</cite>" in evil  # shown, not linked
    math_page = (site / "entries" / "with-math.html").read_text(encoding="utf-8")
    assert "<b>x</b>" not in math_page and "<td>&lt;b&gt;x&lt;/b&gt;</td>" in math_page
    assert "<i>metric</i>" not in math_page and "&lt;i&gt;metric&lt;/i&gt;" in math_page


def test_missing_or_broken_results_show_not_run(tmp_path, notebook, results_dir):
    for results in (None, tmp_path / "does-not-exist"):
        site = build_site(tmp_path / "site", notebook=notebook, results_dir=results).parent
        text = (site / "entries" / "with-math.html").read_text(encoding="utf-8")
        assert "not run yet: <code>mlnb run toy-exp</code>" in text
        assert 'id="verification"' not in text
    (results_dir / "verify.json").write_text("[1, 2", encoding="utf-8")
    site = build_site(tmp_path / "again", notebook=notebook, results_dir=results_dir).parent
    assert 'id="verification"' not in (site / "entries" / "with-math.html").read_text("utf-8")


def test_rebuild_overwrites_in_place(tmp_path, notebook, results_dir):
    first = build_site(tmp_path / "site", notebook=notebook, results_dir=results_dir)
    before = first.read_text(encoding="utf-8")
    second = build_site(tmp_path / "site", notebook=notebook, results_dir=results_dir)
    assert first == second and second.read_text(encoding="utf-8") == before


def test_unsafe_entry_id_is_refused(tmp_path):
    nb = Notebook([_entry("../up", "basics")], [Chapter("basics", "Basics", 1, "s")])
    with pytest.raises(ValueError, match="cannot be used as a page name"):
        build_site(tmp_path / "site", notebook=nb)


def test_builds_the_shipped_notebook(tmp_path):
    notebook = load_notebook()
    index = build_site(tmp_path / "site")  # default notebook, no results
    site = index.parent
    _check_page(index)
    text = index.read_text(encoding="utf-8")
    for entry in notebook.by_chapter():
        page = site / "entries" / f"{entry.id}.html"
        assert page.is_file(), entry.id
        assert f'href="entries/{entry.id}.html"' in text
        _check_page(page)
