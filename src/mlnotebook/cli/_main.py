"""The ``mlnb`` command: list, show, search, run, verify, bench and build the notebook."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table

from mlnotebook._io import atomic_write_json, read_json


class UsageError(Exception):
    """A mistake in how mlnb was called: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def _notebook():
    from mlnotebook.entries import load_notebook

    return load_notebook()


def _merge_rows(path: Path, rows: list[dict], key) -> None:
    """Replace the rows of ``path`` that the new rows supersede, keep the others."""
    old = read_json(path) or {}
    new_keys = {key(r) for r in rows}
    kept = [r for r in old.get("rows", []) if isinstance(r, dict) and key(r) not in new_keys]
    atomic_write_json(path, {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "rows": kept + rows})


# --------------------------------------------------------------------------- list
def cmd_list(args, console: Console) -> int:
    from mlnotebook.experiments import all_experiments, load_results
    from mlnotebook.verify import all_checks

    nb = _notebook()
    if args.chapter and args.chapter not in nb.chapters:
        raise UsageError(f"unknown chapter {args.chapter!r}; chapters: {', '.join(nb.chapters)}")
    checked = {c.concept for c in all_checks()}
    verify_rows = (read_json(Path(args.results) / "verify.json") or {}).get("rows", [])
    experiments = all_experiments()
    table = Table(title="mlnotebook entries", show_lines=False)
    for col in ("chapter", "id", "title", "implemented", "verified", "experiment", "last result"):
        table.add_column(col, overflow="fold")
    for e in nb.by_chapter(args.chapter):
        rows = [r for r in verify_rows if isinstance(r, dict) and r.get("concept") == e.id]
        if rows:
            verified = "pass" if all(r.get("passed") for r in rows) else "FAIL"
        else:
            verified = "not run" if e.id in checked else "-"
        exp_ids = [x for x in e.experiments if x in experiments]
        stamps = [r["started"] for r in (load_results(args.results, x) for x in exp_ids)
                  if r and "started" in r]
        table.add_row(
            nb.chapters[e.chapter].title if e.chapter in nb.chapters else e.chapter,
            e.id, e.title, "yes" if e.implementation else "-", verified,
            ", ".join(e.experiments) or "-", max(stamps)[:16] if stamps else "-",
        )
    console.print(table)
    return 0


# --------------------------------------------------------------------------- show / search
def cmd_show(args, console: Console) -> int:
    nb = _notebook()
    term = " ".join(args.term)
    entry = nb.lookup(term)
    if entry is None:
        close = nb.suggestions(term)
        hint = "; did you mean: " + ", ".join(e.id for e in close) if close else ""
        raise UsageError(f"no entry matches {term!r}{hint}")
    chapter = nb.chapters.get(entry.chapter)
    console.print(Panel(f"[bold]{entry.title}[/bold]  ({entry.id})\n"
                        f"chapter: {chapter.title if chapter else entry.chapter}"
                        + (f"\naliases: {', '.join(entry.aliases)}" if entry.aliases else ""),
                        expand=False))
    console.print(entry.summary, style="italic")
    console.print(Panel(entry.takeaway, title="key takeaway", expand=False))
    console.print(Markdown(entry.body))
    console.print()
    console.print("[bold]References[/bold]")
    for ref in entry.references:
        console.print(f"  - {', '.join(ref.authors)} ({ref.year}). {ref.title}. {ref.url}",
                      markup=False, highlight=False)
    for label, values in (("Related", entry.related), ("Implementation", entry.implementation),
                          ("Experiments", entry.experiments),
                          ("Verified against", entry.reference_library)):
        console.print(f"[bold]{label}:[/bold] ", end="")
        console.print(", ".join(values) if values else "-", markup=False, highlight=False)
    return 0


def cmd_search(args, console: Console) -> int:
    nb = _notebook()
    query = " ".join(args.query)
    hits = nb.search(query, limit=args.limit)
    if not hits:
        console.print(f"no entry mentions {query!r}", markup=False)
        return 1
    table = Table(title=f"entries matching {query!r}")
    for col in ("id", "title", "chapter", "where"):
        table.add_column(col, overflow="fold")
    for hit in hits:
        table.add_row(hit.entry.id, hit.entry.title, hit.entry.chapter, hit.snippet)
    console.print(table)
    return 0


def _device(name: str) -> str:
    """The --device value checked by the runner's rule, as a usage error when it is wrong."""
    from mlnotebook.experiments import resolve_device

    try:
        return resolve_device(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# --------------------------------------------------------------------------- run / build
def cmd_run(args, console: Console) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from mlnotebook.experiments import all_experiments, run_experiment

    experiments = all_experiments()
    unknown = [i for i in args.ids if i not in experiments]
    if unknown:
        raise UsageError(f"unknown experiment {unknown[0]!r}; known: {', '.join(experiments)}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    device = _device(args.device)
    chosen = [experiments[i] for i in (args.ids or experiments)]
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("all experiments", total=len(chosen))
        for exp in chosen:
            task = progress.add_task(exp.id, total=1)

            def report(done, total, task=task):
                progress.update(task, completed=done, total=max(total, 1))

            path = run_experiment(exp, profile=args.profile, seed=args.seed, device=device,
                                  out=args.out, progress=report)
            progress.update(task, completed=1, total=1)
            progress.advance(overall)
            progress.console.print(f"wrote {path}", markup=False, highlight=False)
    index = _build(Path(args.out) / "site", Path(args.out))
    console.print(f"site: {index}", markup=False, highlight=False)
    return 0


def _build(site: Path, results: Path) -> Path:
    from mlnotebook.site import build_site

    return build_site(site, results_dir=results)


def cmd_build(args, console: Console) -> int:
    out = Path(args.out) if args.out else Path(args.results) / "site"
    index = _build(out, Path(args.results))
    console.print(f"site: {index}", markup=False, highlight=False)
    return 0


# --------------------------------------------------------------------------- verify / bench
def cmd_verify(args, console: Console) -> int:
    from mlnotebook.verify import all_checks, run_check, topics

    if args.topic and args.topic not in topics():
        raise UsageError(f"unknown topic {args.topic!r}; topics: {', '.join(topics())}")
    table = Table(title="ours vs reference")
    for col in ("concept", "case", "reference", "max abs diff", "tolerance", "result"):
        table.add_column(col, overflow="fold")
    results = []
    for chk in all_checks(args.topic):
        for row in run_check(chk):
            results.append(row)
            diff = "-" if row.max_abs_diff is None else f"{row.max_abs_diff:.3g}"
            verdict = "[green]pass[/green]" if row.passed else f"[red]FAIL[/red] {row.error or ''}"
            table.add_row(row.concept, row.case, row.reference, diff, f"{row.tolerance:.0e}",
                          verdict)
    console.print(table)
    _merge_rows(Path(args.out) / "verify.json", [r.as_dict() for r in results],
                key=lambda r: r.get("check"))
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_bench(args, console: Console) -> int:
    from mlnotebook.bench import all_benchmarks, run_benchmark

    benches = all_benchmarks(args.topic)
    if args.topic and not benches:
        known = sorted({b.topic for b in all_benchmarks()})
        raise UsageError(f"unknown topic {args.topic!r}; topics: {', '.join(known)}")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    device = _device(args.device)
    table = Table(title=f"ours / reference, median of {args.repeats} interleaved runs")
    for col in ("benchmark", "reference", "ours (ms)", "reference (ms)", "ratio", "notes"):
        table.add_column(col, overflow="fold")
    rows = []
    for bench in benches:
        res = run_benchmark(bench, device=device, quick=args.quick, repeats=args.repeats)
        rows.append(res.as_dict())
        notes = ", ".join(f"{k}={v}" for k, v in res.info.items())
        table.add_row(res.name, res.reference, f"{res.ours_s * 1e3:.3f}",
                      f"{res.reference_s * 1e3:.3f}", f"{res.ratio:.2f}", notes)
    console.print(table)
    _merge_rows(Path(args.out) / "bench.json", rows,
                key=lambda r: (r.get("name"), r.get("info", {}).get("device")))
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from mlnotebook import __version__

    parser = _Parser(prog="mlnb", description="mlnotebook: a living machine-learning notebook.")
    parser.add_argument("--version", action="version", version=f"mlnb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="entries with their status")
    p.add_argument("--chapter", help="only this chapter")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("show", help="one entry, by id, alias or title")
    p.add_argument("term", nargs="+")
    p.set_defaults(fn=cmd_show)

    p = sub.add_parser("search", help="full-text search over entries")
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=10)
    p.set_defaults(fn=cmd_search)

    p = sub.add_parser("run", help="run experiments (all by default), then build the site")
    p.add_argument("ids", nargs="*", help="experiment ids (default: all)")
    p.add_argument("--profile", choices=("quick", "default", "full"), default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("verify", help="compare implementations with the reference libraries")
    p.add_argument("topic", nargs="?")
    p.add_argument("--out", default="results", help="where verify.json goes (default: results)")
    p.set_defaults(fn=cmd_verify)

    p = sub.add_parser("bench", help="time implementations against the reference libraries")
    p.add_argument("topic", nargs="?")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="results", help="where bench.json goes (default: results)")
    p.set_defaults(fn=cmd_bench)

    p = sub.add_parser("build", help="build the static HTML site")
    p.add_argument("--out", help="site folder (default: <results>/site)")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.set_defaults(fn=cmd_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    console = Console()
    try:
        args = build_parser().parse_args(argv)
        return args.fn(args, console)
    except UsageError as exc:
        print(f"mlnb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlnb: interrupted", file=sys.stderr)
        return 130
