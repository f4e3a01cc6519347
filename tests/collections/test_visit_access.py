"""A field agent at work, acting as themself: they see the case of a visit assigned to them while
it is to be made, and a dispute they record at the door is flagged (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from bnpl.collections import contacts, visits, work
from bnpl.domain.errors import NotFound
from bnpl.runtime import ADMIN, Actor, Platform
from bnpl.services import parties
from tests.collections.helpers import run_day
from tests.collections.test_work import ALL_YES, overdue_case


@pytest.mark.forward_dates  # the visit is made three days on, without closing the days between
def test_a_field_agent_sees_the_case_while_the_visit_is_theirs_and_records_a_dispute(
    platform: Platform,
) -> None:
    w, case_id, team = overdue_case(platform, 40)
    run_day(platform)
    agent, sup, (fa, fb) = team["agent"], team["supervisor"], team["field"]
    as_fa = Actor("field_agent", fa)
    with pytest.raises(NotFound):
        platform.run(as_fa, lambda c: work.case_view(c, case_id))
    v = platform.run(ADMIN, lambda c: visits.request_visit(c, case_id, agent, "no answer for a month"))
    local = datetime.combine(platform.clock.today() + timedelta(days=3), time(10))
    platform.run(ADMIN, lambda c: visits.approve_visit(c, v["id"], sup, fa, fb, local))
    assert platform.run(as_fa, lambda c: work.case_view(c, case_id))["id"] == case_id
    assert platform.run(as_fa, lambda c: parties.get_customer(c, w.customer_id))["id"] == w.customer_id

    platform.clock.advance(3)
    done = platform.run(as_fa, lambda c: visits.record_outcome(c, v["id"], fa, "dispute", ALL_YES))
    assert done["outcome"] == "dispute"
    flags = platform.run(ADMIN, lambda c: contacts.flags_of(c, w.customer_id))
    assert "dispute" in str(flags)
    # the visit made, the case is no longer the field agent's to read
    with pytest.raises(NotFound):
        platform.run(as_fa, lambda c: work.case_view(c, case_id))
