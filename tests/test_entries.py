"""The shipped notebook is complete and valid, and broken entries fail with clear messages."""

import textwrap

import pytest

from mlnotebook.entries import EntryError, Notebook, load_notebook, parse_entry
from mlnotebook.entries._markup import find_math, latex_to_mathml, render_markdown
from mlnotebook.experiments import all_experiments

# Every concept of the seeds, by chapter (issue 2's list).
SEED_CONCEPTS = {
    "attention": ["why-attention", "queries-keys-values", "attention-pooling", "nadaraya-watson",
                  "attention-scoring-functions", "dot-product-attention", "masked-softmax",
                  "scaled-dot-product-attention", "additive-attention", "bahdanau-attention",
                  "multi-head-attention", "self-attention", "positional-encoding"],
    "sequence": ["tokens-and-embeddings", "seq2seq", "transformer", "transformer-encoder",
                 "transformer-decoder"],
    "optimisation": ["optimisation-goal", "optimisation-challenges", "gradient-descent", "sgd",
                     "minibatch-sgd", "momentum", "adagrad", "rmsprop", "adadelta", "adam",
                     "learning-rate-schedules", "comparing-optimisers"],
    "regularisation": ["generalisation-error", "underfitting-overfitting", "model-selection",
                       "weight-decay", "generalisation-in-classification", "distribution-shift",
                       "generalisation-in-deep-learning", "dropout", "batch-normalisation",
                       "layer-normalisation"],
    "unsupervised": ["supervised-vs-unsupervised", "k-means", "k-means-variants", "em-algorithm",
                     "gaussian-mixtures", "clustering-applications"],
    "bayesian": ["bayes-theorem", "mle-vs-map", "naive-bayes", "conjugate-priors",
                 "bayesian-linear-regression"],
    "ensemble": ["bagging", "random-forests", "boosting", "gradient-boosting", "voting",
                 "stacking", "bias-variance"],
    "evaluation": ["classification-metrics", "regression-metrics", "cross-validation",
                   "model-comparison-tests", "fairness", "interpretability"],
}


@pytest.fixture(scope="module")
def notebook():
    return load_notebook()


def test_every_seed_concept_has_an_entry_in_its_chapter(notebook):
    for chapter, ids in SEED_CONCEPTS.items():
        for entry_id in ids:
            assert entry_id in notebook.entries, f"missing entry {entry_id}"
            assert notebook.entries[entry_id].chapter == chapter


def test_shipped_notebook_has_no_problems(notebook):
    assert notebook.problems(experiment_ids=all_experiments()) == []


def test_every_formula_renders_to_mathml(notebook):
    for entry in notebook.by_chapter():
        html = render_markdown(entry.body)
        assert html.count("<math") == len(find_math(entry.body)), entry.id


@pytest.mark.parametrize(
    ("term", "expected"),
    [("adam", "adam"), ("Adam", "adam"), ("scaled dot product", "scaled-dot-product-attention"),
     ("batch gradient descent", "gradient-descent"), ("gradient-descent", "gradient-descent"),
     ("k-means", "k-means")],
)
def test_lookup_by_id_alias_and_title(notebook, term, expected):
    assert notebook.lookup(term).id == expected


def test_lookup_unknown_gives_none_and_suggestions(notebook):
    assert notebook.lookup("no-such-thing") is None
    assert notebook.lookup("") is None
    assert [e.id for e in notebook.suggestions("adma")][:1] == ["adam"]


def test_search_ranks_title_matches_first(notebook):
    hits = notebook.search("momentum")
    assert hits and hits[0].entry.id == "momentum"
    assert all("momentum" in (h.entry.title + h.entry.body + h.entry.summary).lower()
               for h in hits)
    assert notebook.search("zzzz-not-a-word") == []


GOOD = textwrap.dedent("""\
    ---
    id: thing
    title: A thing
    chapter: optimisation
    aliases: [other name]
    summary: Short.
    takeaway: Remember this.
    references:
      - {title: "A paper", authors: [A. Person], year: 2020, url: "https://example.org/p"}
    related: []
    implementation: []
    experiments: []
    reference_library: []
    ---
    Body with $x^2$.
    """)


def _broken(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (_broken("title: A thing\n", ""), "title"),
        (_broken("id: thing", "id: Thing Two"), "id"),
        (_broken("id: thing", "id: other"), "id"),
        (_broken("chapter: optimisation", "chapter: attention"), "chapter"),
        (_broken("aliases: [other name]", "aliases: other name"), "aliases"),
        (_broken("year: 2020", "year: twenty"), "references[0].year"),
        (_broken('url: "https://example.org/p"', 'url: "example.org"'), "references[0].url"),
        (_broken("authors: [A. Person], ", ""), "references[0]"),
        (_broken('references:\n  - {title: "A paper", authors: [A. Person], year: 2020, '
                 'url: "https://example.org/p"}', "references: just a paper"), "references"),
        (_broken("implementation: []", "implementation: [not a path]"), "implementation"),
        (_broken("reference_library: []", "reference_library: []\nsurprise: 1"), "surprise"),
        (_broken("Body with $x^2$.\n", ""), "body"),
    ],
)
def test_broken_entry_names_file_and_field(tmp_path, text, field):
    path = tmp_path / "optimisation" / "thing.md"
    with pytest.raises(EntryError, match=rf"thing\.md: field '{re_escape(field)}'"):
        parse_entry(text, path)


def re_escape(s):
    import re

    return re.escape(s)


def test_missing_front_matter_and_bad_yaml(tmp_path):
    path = tmp_path / "optimisation" / "thing.md"
    with pytest.raises(EntryError, match="thing.md: front matter: the file must start"):
        parse_entry("no front matter", path)
    with pytest.raises(EntryError, match="not valid YAML"):
        parse_entry("---\nid: [unclosed\n---\nbody\n", path)


def _write_notebook(root, files):
    (root / "optimisation").mkdir(parents=True)
    (root / "optimisation" / "_chapter.yaml").write_text(
        "title: Optimisation\norder: 1\nsummary: s\n")
    for name, text in files.items():
        (root / "optimisation" / f"{name}.md").write_text(text)
    return load_notebook(root)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (("related: []", "related: [nowhere]"), "field 'related': unknown entry id 'nowhere'"),
        (("implementation: []", "implementation: [mlnotebook.optim.NoSuchThing]"),
         "field 'implementation': mlnotebook.optim.NoSuchThing"),
        (("experiments: []", "experiments: [no-such-experiment]"),
         "field 'experiments': unknown experiment 'no-such-experiment'"),
        (("aliases: [other name]", "aliases: [A thing 2]"), "'A thing 2' is also a name of"),
    ],
)
def test_cross_entry_problems_name_file_and_field(tmp_path, replace, message):
    second = GOOD.replace("id: thing", "id: thing-2").replace("title: A thing", "title: A thing 2")
    first = GOOD.replace(*replace)
    nb = _write_notebook(tmp_path, {"thing": first, "thing-2": second})
    problems = nb.problems(experiment_ids=[])
    assert any("thing.md" in p and message in p for p in problems), problems


def test_chapter_needs_chapter_file(tmp_path):
    (tmp_path / "optimisation").mkdir()
    (tmp_path / "optimisation" / "thing.md").write_text(GOOD)
    with pytest.raises(EntryError, match="_chapter.yaml"):
        load_notebook(tmp_path)


def test_notebook_of_valid_entries_has_no_problems(tmp_path):
    nb = _write_notebook(tmp_path, {"thing": GOOD})
    assert isinstance(nb, Notebook) and len(nb) == 1
    assert nb.problems(experiment_ids=[]) == []


def test_math_rendering_conventions():
    html = render_markdown("Cost \\$5, $a_b$ and\n\n$$\\sum_i x_i$$\n\n<script>x</script>")
    assert "$5" in html and "&lt;script&gt;" in html
    assert html.count("<math") == 2 and 'class="math-display"' in html
    with pytest.raises(ValueError, match="not supported"):
        latex_to_mathml(r"\arg\min_x f(x)")
