"""Load, validate and look up the notebook's entries.

An entry file is Markdown with YAML front matter::

    ---
    id: adam
    title: Adam
    chapter: optimisation
    aliases: [adaptive moment estimation]
    summary: One or two sentences.
    takeaway: The one thing to remember.
    references:
      - {title: "...", authors: [A. Author], year: 2015, url: "https://..."}
    related: [rmsprop, momentum]
    implementation: [mlnotebook.optim.Adam]
    experiments: [optimiser-trajectories]
    reference_library: [torch.optim.Adam]
    ---
    The idea in our own words, with $inline$ and $$display$$ LaTeX.

Schema problems are reported per file (``EntryError`` names the file and the field);
problems between entries (duplicate ids, unknown related ids, implementation paths that do
not import, unknown experiment ids) are collected by :meth:`Notebook.problems`.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ENTRIES_ROOT = Path(__file__).resolve().parent
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)(.*)\Z", re.DOTALL)


class EntryError(ValueError):
    """A broken entry file: names the file, the field and what is wrong."""

    def __init__(self, path: Path | str, field_name: str | None, message: str):
        self.path = Path(path)
        self.field = field_name
        where = f"field '{field_name}'" if field_name else "front matter"
        super().__init__(f"{self.path}: {where}: {message}")


@dataclass(frozen=True)
class Reference:
    title: str
    authors: tuple[str, ...]
    year: int
    url: str


@dataclass(frozen=True)
class Chapter:
    id: str
    title: str
    order: int
    summary: str


@dataclass(frozen=True)
class Entry:
    """One concept of the notebook (see the module docstring for the file format)."""

    id: str
    title: str
    chapter: str
    summary: str
    takeaway: str
    body: str
    references: tuple[Reference, ...]
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    implementation: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    reference_library: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this entry answers to: id, title and aliases."""
        return (self.id, self.title, *self.aliases)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _string(meta: Mapping, key: str, path: Path, *, required: bool = True) -> str:
    value = meta.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise EntryError(path, key, f"must be a non-empty string, got {value!r}")
    return " ".join(value.split()) if key != "body" else value


def _string_list(meta: Mapping, key: str, path: Path) -> tuple[str, ...]:
    value = meta.get(key, [])
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise EntryError(path, key, f"must be a list of non-empty strings, got {value!r}")
    if len(set(value)) != len(value):
        raise EntryError(path, key, f"has repeated items: {value!r}")
    return tuple(v.strip() for v in value)


def _references(meta: Mapping, path: Path) -> tuple[Reference, ...]:
    raw = meta.get("references")
    if not isinstance(raw, list) or not raw:
        raise EntryError(path, "references", "must be a non-empty list of references")
    refs = []
    for i, item in enumerate(raw):
        name = f"references[{i}]"
        if not isinstance(item, dict):
            raise EntryError(path, name, f"must be a mapping, got {item!r}")
        missing = {"title", "authors", "year", "url"} - item.keys()
        if missing:
            raise EntryError(path, name, f"is missing {sorted(missing)}")
        authors = item["authors"]
        if not isinstance(authors, list) or not authors or not all(
            isinstance(a, str) and a.strip() for a in authors
        ):
            raise EntryError(path, f"{name}.authors", "must be a non-empty list of names")
        year = item["year"]
        if not isinstance(year, int) or isinstance(year, bool) or not 1600 <= year <= 2100:
            raise EntryError(path, f"{name}.year", f"must be a year, got {year!r}")
        url = item["url"]
        if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
            raise EntryError(path, f"{name}.url", f"must be an http(s) URL, got {url!r}")
        title = item["title"]
        if not isinstance(title, str) or not title.strip():
            raise EntryError(path, f"{name}.title", "must be a non-empty string")
        refs.append(Reference(title.strip(), tuple(authors), year, url))
    return tuple(refs)


_KNOWN_FIELDS = {
    "id", "title", "chapter", "aliases", "summary", "takeaway", "references",
    "related", "implementation", "experiments", "reference_library",
}


def parse_entry(text: str, path: Path | str = "<string>") -> Entry:
    """Parse one entry file's text; raise :class:`EntryError` naming file and field."""
    path = Path(path)
    match = _FRONT_MATTER.match(text)
    if not match:
        raise EntryError(path, None, "the file must start with a '---' YAML block closed by '---'")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise EntryError(path, None, f"is not valid YAML ({exc})") from None
    if not isinstance(meta, dict):
        raise EntryError(path, None, "must be a YAML mapping")
    unknown = set(meta) - _KNOWN_FIELDS
    if unknown:
        raise EntryError(path, sorted(unknown)[0], "is not a known field")

    entry_id = _string(meta, "id", path)
    if not _SLUG.match(entry_id):
        raise EntryError(path, "id", f"must be lower-case words joined by '-', got {entry_id!r}")
    if path.suffix == ".md" and path.stem != entry_id:
        raise EntryError(path, "id", f"{entry_id!r} does not match the file name {path.name!r}")
    chapter = _string(meta, "chapter", path)
    if path.suffix == ".md" and path.parent.name != chapter and path.name != "<string>":
        raise EntryError(path, "chapter", f"{chapter!r} is not the folder {path.parent.name!r}")
    implementation = _string_list(meta, "implementation", path)
    for dotted in implementation:
        if not _DOTTED.match(dotted):
            raise EntryError(path, "implementation", f"{dotted!r} is not a dotted path")
    body = match.group(2).strip()
    if not body:
        raise EntryError(path, "body", "the entry has no text after the front matter")
    return Entry(
        id=entry_id,
        title=_string(meta, "title", path),
        chapter=chapter,
        summary=_string(meta, "summary", path),
        takeaway=_string(meta, "takeaway", path),
        body=body,
        references=_references(meta, path),
        aliases=_string_list(meta, "aliases", path),
        related=_string_list(meta, "related", path),
        implementation=implementation,
        experiments=_string_list(meta, "experiments", path),
        reference_library=_string_list(meta, "reference_library", path),
        path=path,
    )


def _load_chapter(folder: Path) -> Chapter:
    path = folder / "_chapter.yaml"
    if not path.is_file():
        raise EntryError(path, None, "every chapter folder needs a _chapter.yaml")
    meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise EntryError(path, None, "must be a YAML mapping")
    order = meta.get("order")
    if not isinstance(order, int):
        raise EntryError(path, "order", f"must be an integer, got {order!r}")
    return Chapter(
        id=folder.name,
        title=_string(meta, "title", path),
        order=order,
        summary=_string(meta, "summary", path),
    )


def resolve_dotted(dotted: str):
    """Import ``package.module.Object.attr`` and return the object; raise ImportError."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            try:
                obj = getattr(obj, name)
            except AttributeError:
                raise ImportError(f"{dotted}: {name!r} not found") from None
        return obj
    raise ImportError(f"{dotted}: no importable module")


@dataclass(frozen=True)
class SearchHit:
    entry: Entry
    score: float
    snippet: str


class Notebook:
    """All entries, with look-ups by id, alias or fuzzy title, and full-text search."""

    def __init__(self, entries: Iterable[Entry], chapters: Iterable[Chapter] = ()):
        self.chapters = {c.id: c for c in sorted(chapters, key=lambda c: (c.order, c.id))}
        self._entries = list(entries)
        self.entries = {e.id: e for e in self._entries}
        self._names: dict[str, Entry] = {}
        for e in self._entries:
            for name in e.names:
                self._names.setdefault(_normalise(name), e)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.by_chapter())

    def by_chapter(self, chapter: str | None = None) -> list[Entry]:
        order = {c: i for i, c in enumerate(self.chapters)}
        chosen = [e for e in self._entries if chapter is None or e.chapter == chapter]
        return sorted(chosen, key=lambda e: (order.get(e.chapter, len(order)), e.path or "", e.id))

    # ------------------------------------------------------------------ validation
    def problems(self, experiment_ids: Iterable[str] | None = None) -> list[str]:
        """Every problem between entries, as 'file: field: message' strings.

        ``experiment_ids`` is the set of registered experiments; when given, each entry's
        experiment ids must be in it. Implementation paths must import.
        """
        found: list[str] = []
        seen_names: dict[str, Entry] = {}
        for e in self._entries:
            for name in e.names:
                key = _normalise(name)
                other = seen_names.get(key)
                if other is not None and other is not e:
                    found.append(f"{e.path}: field 'aliases': {name!r} is also a name of "
                                 f"{other.id!r}")
                seen_names.setdefault(key, e)
            if e.chapter not in self.chapters:
                found.append(f"{e.path}: field 'chapter': unknown chapter {e.chapter!r}")
            for rel in e.related:
                if rel not in self.entries:
                    found.append(f"{e.path}: field 'related': unknown entry id {rel!r}")
                elif rel == e.id:
                    found.append(f"{e.path}: field 'related': an entry cannot relate to itself")
            for dotted in e.implementation:
                try:
                    resolve_dotted(dotted)
                except ImportError as exc:
                    found.append(f"{e.path}: field 'implementation': {exc}")
            if experiment_ids is not None:
                known = set(experiment_ids)
                for exp in e.experiments:
                    if exp not in known:
                        found.append(f"{e.path}: field 'experiments': unknown experiment {exp!r}")
        ids = [e.id for e in self._entries]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            paths = ", ".join(str(e.path) for e in self._entries if e.id == dup)
            found.append(f"{paths}: field 'id': {dup!r} is used more than once")
        return found

    # ------------------------------------------------------------------ look-ups
    def lookup(self, term: str) -> Entry | None:
        """The entry ``term`` names: exact id/title/alias, else a unique prefix or fuzzy match."""
        key = _normalise(term)
        if not key:
            return None
        if key in self._names:
            return self._names[key]
        prefixed = {e.id: e for name, e in self._names.items() if name.startswith(key)}
        if len(prefixed) == 1:
            return next(iter(prefixed.values()))
        close = difflib.get_close_matches(key, list(self._names), n=2, cutoff=0.85)
        if len(close) == 1 or (close and self._names[close[0]] is self._names[close[-1]]):
            return self._names[close[0]]
        return None

    def suggestions(self, term: str, n: int = 5) -> list[Entry]:
        """Entries whose names are closest to ``term``, best first (for 'did you mean')."""
        key = _normalise(term)
        ranked: list[Entry] = []
        for name in difflib.get_close_matches(key, list(self._names), n=4 * n, cutoff=0.4):
            if self._names[name] not in ranked:
                ranked.append(self._names[name])
        words = key.split()
        for e in self._entries:
            text = _normalise(" ".join(e.names))
            if words and any(w in text for w in words) and e not in ranked:
                ranked.append(e)
        return ranked[:n]

    def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        """Full-text search: every query word must occur; title and aliases weigh most."""
        words = _normalise(query).split()
        if not words:
            return []
        hits = []
        for e in self._entries:
            fields = [
                (_normalise(" ".join(e.names)), 5.0),
                (_normalise(e.summary + " " + e.takeaway), 2.0),
                (_normalise(e.body), 1.0),
            ]
            score = 0.0
            for word in words:
                pattern = re.compile(rf"\b{re.escape(word)}")
                counts = [len(pattern.findall(text)) * weight for text, weight in fields]
                if not any(counts):
                    break
                score += sum(counts)
            else:
                hits.append(SearchHit(e, score, _snippet(e, words)))
        hits.sort(key=lambda h: (-h.score, h.entry.id))
        return hits[:limit]


def _snippet(entry: Entry, words: list[str], width: int = 160) -> str:
    text = " ".join((entry.summary + " " + entry.body).split())
    low = text.lower()
    pos = min((p for p in (low.find(w) for w in words) if p >= 0), default=0)
    start = max(0, pos - width // 3)
    piece = text[start : start + width]
    return ("..." if start else "") + piece + ("..." if start + width < len(text) else "")


def load_notebook(root: Path | str | None = None) -> Notebook:
    """Read every chapter folder and entry file under ``root`` (default: the shipped entries).

    Raises :class:`EntryError` for the first file whose schema is broken.
    """
    root = Path(root) if root is not None else ENTRIES_ROOT
    chapters, entries = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        md_files = sorted(folder.glob("*.md"))
        if not md_files:
            continue
        chapters.append(_load_chapter(folder))
        for path in md_files:
            entries.append(parse_entry(path.read_text(encoding="utf-8"), path))
    return Notebook(entries, chapters)
