"""Many files at once: a plan first (``plan.py``, from ``sources.py``), then a polite run through the
download queue (``run.py``); ``replace.py`` retires old copies after an update is verified."""

from .plan import ACTIONS, Plan, Planner, PlanRow
from .run import BatchRunner, retry_hint

__all__ = ["ACTIONS", "Plan", "PlanRow", "Planner", "BatchRunner", "retry_hint"]
