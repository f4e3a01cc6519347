"""The runtime below every use case: settings, the business clock, who is acting, and the unit of
work (Ctx) that the running system (Platform) hands out. It imports no use case: the rule set and
the model cache are handed in (``bnpl.services.boot.open_platform``)."""

from bnpl.runtime.actor import ADMIN, SYSTEM, Actor
from bnpl.runtime.clock import Clock, FixedClock, SystemClock
from bnpl.runtime.context import Calendar, Ctx, Platform
from bnpl.runtime.settings import DEFAULT_TZ, PLACEHOLDER_SECRETS, Settings
from bnpl.store.db import (
    RunAgain,  # a unit of work run again too often: front ends answer it
    plan_once,  # the checkout's decision processes set their connections
)

__all__ = [
    "ADMIN",
    "DEFAULT_TZ",
    "PLACEHOLDER_SECRETS",
    "SYSTEM",
    "Actor",
    "Calendar",
    "Clock",
    "Ctx",
    "FixedClock",
    "Platform",
    "RunAgain",
    "Settings",
    "SystemClock",
    "plan_once",
]
