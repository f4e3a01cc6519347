"""End of day as one ordered list of named, restartable steps (``pipeline.STEPS``), each in a
small module of this package. It sits above collections and the services: the API, the CLI, the
simulator and the benches all run it through :func:`run_eod` and :func:`catch_up`."""

from bnpl.eod.pipeline import STEPS, StepHook, catch_up, run_eod
from bnpl.eod.steps import Step

__all__ = ["STEPS", "Step", "StepHook", "catch_up", "run_eod"]
