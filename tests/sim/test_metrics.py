"""The definitions behind the report's figures, on hand-made rows."""

from __future__ import annotations

import pandas as pd

from bnpl.sim.metrics import _approved


def test_approved_means_approved_at_checkout_or_by_an_analyst() -> None:
    book = pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5, 6, 7],
            "decision_id": [11, 12, 13, 14, 15, 16, 17],
            "status": ["completed", "expired", "captured", "expired", "declined", "review", "declined"],
        }
    )
    outcome = pd.Series(
        {
            11: "approve",
            12: "approve",
            13: "review",
            14: "review",
            15: "review",
            16: "review",
            17: "approve_lower",
        }
    )
    approved = _approved(book, outcome)
    # an approval that expired unshipped was still an approval; a review that expired or was
    # declined was not, nor is one still waiting; a lower offer authorizes nothing
    assert approved.to_dict() == {1: True, 2: True, 3: True, 4: False, 5: False, 6: False, 7: False}
