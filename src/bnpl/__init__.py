"""bnpl — a use-first-pay-later (先用后付) credit platform for live-stream marketplaces."""

__version__ = "0.1.0"
