"""The console's flash messages (kept on the server, shown once): ``services.console_flash`` keeps
and takes them; the pages call them through this name."""

from bnpl.services.console_flash import KINDS, put, take

__all__ = ["KINDS", "put", "take"]
