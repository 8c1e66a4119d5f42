"""Equivalence checks: ours against the production library on the same inputs.

A check is a function returning the maximum absolute difference it found, either one
number or ``{case: difference}`` for a grid of cases. It is registered with :func:`check`
in a module of ``mlnotebook.verify``; :func:`all_checks` imports every such module, so a
new concept adds its checks by adding a file.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mlnotebook._registry import import_public_submodules


@dataclass(frozen=True)
class Check:
    name: str
    topic: str
    concept: str
    reference: str
    tolerance: float
    fn: Callable[[], float | Mapping[str, float]]


@dataclass(frozen=True)
class CheckResult:
    topic: str
    check: str
    concept: str
    case: str
    reference: str
    max_abs_diff: float | None
    tolerance: float
    passed: bool
    error: str | None = None

    def as_dict(self) -> dict:
        row = dict(self.__dict__)
        if row["max_abs_diff"] is not None and not math.isfinite(row["max_abs_diff"]):
            row["max_abs_diff"] = None
        return row


_CHECKS: dict[str, Check] = {}


def check(*, topic: str, concept: str, reference: str, tolerance: float):
    """Register the decorated function as an equivalence check (see module docstring)."""
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance!r}")

    def decorate(fn):
        name = f"{topic}.{fn.__name__}"
        if name in _CHECKS and _CHECKS[name].fn is not fn:
            raise ValueError(f"check {name!r} is registered twice")
        _CHECKS[name] = Check(name, topic, concept, reference, tolerance, fn)
        return fn

    return decorate


def all_checks(topic: str | None = None) -> list[Check]:
    """Registered checks, optionally only those of one topic, in name order."""
    import_public_submodules("mlnotebook.verify")
    return [c for _, c in sorted(_CHECKS.items()) if topic is None or c.topic == topic]


def topics() -> list[str]:
    return sorted({c.topic for c in all_checks()})


def run_check(chk: Check) -> list[CheckResult]:
    """Run one check; an exception becomes a failed row carrying the error, not a crash."""
    try:
        found = chk.fn()
    except Exception as exc:  # a broken check must show up as a failure in the table
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return [CheckResult(chk.topic, chk.name, chk.concept, "-", chk.reference, None,
                            chk.tolerance, False, last)]
    cases = found.items() if isinstance(found, Mapping) else [("-", found)]
    rows = []
    for case, diff in cases:
        diff = float(diff)
        ok = math.isfinite(diff) and diff <= chk.tolerance
        rows.append(CheckResult(chk.topic, chk.name, chk.concept, str(case), chk.reference,
                                diff, chk.tolerance, ok, None if ok or math.isfinite(diff)
                                else "difference is not finite"))
    return rows
