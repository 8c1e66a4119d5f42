"""Generated translation tasks, offline and seeded: dates to ISO, reversal, numbers to words.

Every generator takes the number of examples and a ``random_state`` (an int seed or a
``numpy.random.Generator``) and returns a list of ``(source, target)`` string pairs, so the
same seed always gives the same data and nothing is ever downloaded.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Templates for human-written dates. Fields: {d} day, {dd} zero-padded day, {dth} ordinal
# day ("23rd"), {mm} zero-padded month, {Mon}/{Month} short/long month name, {yyyy}/{yy}
# four/two-digit year, {Wkd}/{Weekday} short/long weekday. Day-first and year-first numeric
# forms are included, month-first numeric ones are not: "03/04/2026" would be ambiguous.
DATE_FORMATS = (
    "{d} {Mon} {yyyy}",                    # 23 Nov 2026
    "{Month} {dth}, {yyyy}",               # November 23rd, 2026
    "{dd}/{mm}/{yyyy}",                    # 23/11/2026
    "{Weekday}, {d} {Month} {yyyy}",       # Monday, 23 November 2026
    "{Mon} {d} {yy}",                      # Nov 23 26
    "{dd}.{mm}.{yy}",                      # 23.11.26
    "{d}-{Mon}-{yyyy}",                    # 23-Nov-2026
    "the {dth} of {Month} {yyyy}",         # the 23rd of November 2026
    "{Wkd} {Mon} {d} {yyyy}",              # Mon Nov 23 2026
    "{Month} {d} {yyyy}",                  # November 23 2026
    "{Mon}. {d}, {yyyy}",                  # Nov. 23, 2026
    "{dth} {Month} {yy}",                  # 23rd November 26
    "{yyyy}/{mm}/{dd}",                    # 2026/11/23
    "{Weekday} {Month} {dth} {yyyy}",      # Monday November 23rd 2026
)
CASES = ("as is", "lower", "upper")


def _check_count(n, name: str, *, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _ordinal(day: int) -> str:
    """``1 -> "1st"``, ``2 -> "2nd"``, ``11 -> "11th"``, ``23 -> "23rd"``."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def format_date(date: datetime.date, template: str, case: str = "as is") -> str:
    """Write ``date`` with one of the :data:`DATE_FORMATS` templates, in English.

    Parameters
    ----------
    date : datetime.date
    template : str
        A template with the fields listed next to :data:`DATE_FORMATS`.
    case : {"as is", "lower", "upper"}, default="as is"

    Returns
    -------
    text : str

    Examples
    --------
    >>> import datetime
    >>> format_date(datetime.date(2026, 11, 23), "{Weekday}, {d} {Month} {yyyy}")
    'Monday, 23 November 2026'
    >>> format_date(datetime.date(2026, 11, 23), "{Mon} {d} {yy}", case="lower")
    'nov 23 26'
    """
    if not isinstance(date, datetime.date):
        raise TypeError(f"date must be a datetime.date, got {type(date).__name__}")
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}, got {case!r}")
    month, weekday = MONTHS[date.month - 1], WEEKDAYS[date.weekday()]
    text = template.format(d=date.day, dd=f"{date.day:02d}", dth=_ordinal(date.day),
                           mm=f"{date.month:02d}", Mon=month[:3], Month=month,
                           yyyy=f"{date.year:04d}", yy=f"{date.year % 100:02d}",
                           Wkd=weekday[:3], Weekday=weekday)
    return {"as is": text, "lower": text.lower(), "upper": text.upper()}[case]


@dataclass(frozen=True)
class TranslationSplits:
    """Train, validation and test lists of ``(source, target)`` string pairs."""

    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]


def _format_dates(ordinals: np.ndarray, rng: np.random.Generator,
                  formats: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs (a random human format in a random case, ISO) for proleptic-Gregorian ordinals."""
    which = rng.integers(len(formats), size=len(ordinals))
    cases = rng.integers(len(CASES), size=len(ordinals))
    pairs = []
    for ordinal, f, c in zip(ordinals.tolist(), which.tolist(), cases.tolist(), strict=True):
        date = datetime.date.fromordinal(ordinal)
        pairs.append((format_date(date, formats[f], CASES[c]), date.isoformat()))
    return pairs


def make_date_task(n_train: int, n_valid: int, n_test: int, *, random_state,
                   years: tuple[int, int] = (1950, 2049),
                   formats: Sequence[str] = DATE_FORMATS) -> TranslationSplits:
    """Dates written in many human formats, to translate into ISO ``YYYY-MM-DD``.

    .. code-block:: text

        "Monday, 23 November 2026" -> "2026-11-23"
        "nov 23 26"                -> "2026-11-23"
        "23.11.26"                 -> "2026-11-23"

    The calendar days of ``years`` are shuffled and cut into three disjoint pools, with
    sizes proportional to ``n_train : n_valid : n_test``; each split draws its dates from its
    own pool only (with replacement when it asks for more examples than its pool has days).
    So the split is by *date*, not by string: no test date is ever seen in training, in any
    format. Each example then gets a format drawn uniformly from ``formats`` and a case drawn
    uniformly from ``"as is"``, lower and upper.

    Parameters
    ----------
    n_train, n_valid, n_test : int
        Number of pairs in each split, each >= 1.
    random_state : int or numpy.random.Generator
    years : (int, int), default=(1950, 2049)
        First and last year, inclusive. The span must be at most 100 years, so that a
        two-digit year (``{yy}``) names exactly one year of the range.
    formats : sequence of str, default=DATE_FORMATS
        Templates for :func:`format_date`.

    Returns
    -------
    TranslationSplits
        ``train``, ``valid`` and ``test`` lists of ``(human, iso)`` pairs.

    Examples
    --------
    >>> splits = make_date_task(5, 2, 2, random_state=0)
    >>> len(splits.train), len(splits.test)
    (5, 2)
    >>> all(len(iso) == 10 for _, iso in splits.train)
    True
    """
    counts = np.array([_check_count(n_train, "n_train"), _check_count(n_valid, "n_valid"),
                       _check_count(n_test, "n_test")])
    if (not isinstance(years, tuple) or len(years) != 2
            or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)):
        raise ValueError(f"years must be a (first, last) tuple of ints, got {years!r}")
    first, last = years
    if not 1 <= first <= last <= 9999 or last - first >= 100:
        raise ValueError(f"years must satisfy 1 <= first <= last <= 9999 and span at most 100 "
                         f"years (two-digit years must be unambiguous), got {years!r}")
    if isinstance(formats, str) or len(formats) == 0:
        raise ValueError("formats must be a non-empty sequence of templates")
    rng = np.random.default_rng(random_state)

    start = datetime.date(first, 1, 1).toordinal()
    days = np.arange(start, datetime.date(last, 12, 31).toordinal() + 1)
    if len(days) < 3:
        raise ValueError(f"years {years!r} hold fewer days than the three splits need")
    days = rng.permutation(days)
    # Pools proportional to the requested sizes, each at least one day.
    sizes = np.maximum(np.floor(len(days) * counts / counts.sum()).astype(int), 1)
    sizes[0] = len(days) - sizes[1:].sum()
    pools = np.split(days, np.cumsum(sizes)[:-1])

    splits = []
    for pool, n in zip(pools, counts.tolist(), strict=True):
        chosen = pool[rng.choice(len(pool), size=n, replace=n > len(pool))]
        splits.append(_format_dates(chosen, rng, formats))
    return TranslationSplits(*splits)


def make_reversal(n: int, *, random_state, min_len: int = 1, max_len: int = 12,
                  alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> list[tuple[str, str]]:
    """Random strings and their reversals: ``("abc", "cba")``.

    Lengths are uniform on ``[min_len, max_len]`` and characters uniform on ``alphabet``.
    The task needs no knowledge, only memory of the whole input, so it shows the
    fixed-context bottleneck plainly as the length grows.

    Parameters
    ----------
    n : int
        Number of pairs, >= 1.
    random_state : int or numpy.random.Generator
    min_len, max_len : int, default=1, 12
        Inclusive length range, ``1 <= min_len <= max_len``.
    alphabet : str, default="abcdefghijklmnopqrstuvwxyz"
        Characters to draw from (at least one).

    Returns
    -------
    pairs : list of (str, str)

    Examples
    --------
    >>> pairs = make_reversal(3, random_state=0, max_len=5)
    >>> all(t == s[::-1] for s, t in pairs)
    True
    """
    n = _check_count(n, "n")
    min_len = _check_count(min_len, "min_len")
    max_len = _check_count(max_len, "max_len")
    if min_len > max_len:
        raise ValueError(f"min_len={min_len} must be <= max_len={max_len}")
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(f"alphabet must be a non-empty string, got {alphabet!r}")
    rng = np.random.default_rng(random_state)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    letters = np.array(list(alphabet))[rng.integers(len(alphabet), size=(n, max_len))]
    sources = ["".join(row[:k]) for row, k in zip(letters, lengths.tolist(), strict=True)]
    return [(s, s[::-1]) for s in sources]


_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((1_000_000, "million"), (1_000, "thousand"))


def _below_thousand(k: int) -> list[str]:
    words = []
    if k >= 100:
        words += [_ONES[k // 100], "hundred"]
        k %= 100
    if k >= 20:
        words.append(_TENS[k // 10] + (f"-{_ONES[k % 10]}" if k % 10 else ""))
    elif k > 0:
        words.append(_ONES[k])
    return words


def number_to_words(number: int) -> str:
    """English words for ``0 <= number < 10**9``, American style.

    Tens and units are hyphenated ("twenty-three") and there is no "and" after "hundred":
    ``123456 -> "one hundred twenty-three thousand four hundred fifty-six"``.

    Examples
    --------
    >>> number_to_words(0), number_to_words(1005), number_to_words(40_000_017)
    ('zero', 'one thousand five', 'forty million seventeen')
    """
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
        raise TypeError(f"number must be an int, got {type(number).__name__}")
    if not 0 <= number < 10**9:
        raise ValueError(f"number must be in [0, 10**9), got {number!r}")
    number = int(number)
    if number == 0:
        return "zero"
    words = []
    for scale, name in _SCALES:
        if number >= scale:
            words += _below_thousand(number // scale) + [name]
            number %= scale
    return " ".join(words + _below_thousand(number))


def make_number_words(n: int, *, random_state, low: int = 0,
                      high: int = 999_999) -> list[tuple[str, str]]:
    """Numbers in digits and in English words: ``("1005", "one thousand five")``.

    Drawn so that every number of digits present in ``[low, high]`` is equally likely (then
    uniformly among the numbers of that many digits), rather than uniformly, which would
    make almost every example six digits long.

    Parameters
    ----------
    n : int
        Number of pairs, >= 1.
    random_state : int or numpy.random.Generator
    low, high : int, default=0, 999_999
        Inclusive range, ``0 <= low <= high < 10**9``.

    Returns
    -------
    pairs : list of (str, str)
        Digits (for a character tokenizer) and words (for a word tokenizer).

    Examples
    --------
    >>> make_number_words(2, random_state=0, low=21, high=21)
    [('21', 'twenty-one'), ('21', 'twenty-one')]
    """
    n = _check_count(n, "n")
    low = _check_count(low, "low", minimum=0)
    high = _check_count(high, "high", minimum=0)
    if not low <= high < 10**9:
        raise ValueError(f"need 0 <= low <= high < 10**9, got low={low}, high={high}")
    rng = np.random.default_rng(random_state)
    n_digits = np.arange(len(str(low)), len(str(high)) + 1)                # (D,)
    lo = np.maximum(np.where(n_digits == 1, 0, 10 ** (n_digits - 1)), low)
    hi = np.minimum(10**n_digits - 1, high)
    which = rng.integers(len(n_digits), size=n)
    numbers = rng.integers(lo[which], hi[which] + 1)
    return [(str(k), number_to_words(k)) for k in numbers.tolist()]
