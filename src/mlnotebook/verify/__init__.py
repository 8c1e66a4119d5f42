"""`mlnb verify`: every implementation compared with its production counterpart."""

from mlnotebook.verify._base import Check, CheckResult, all_checks, check, run_check, topics

__all__ = ["Check", "CheckResult", "all_checks", "check", "run_check", "topics"]
