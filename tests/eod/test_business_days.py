"""End of day follows the days that actually ran: the calendar of closed business dates
(``business_days``) decides which date end of day closes next and which dates an action may bear.
The three cases an outside review found, each on SQLite and PostgreSQL:

- a missed night: catch-up runs the missed date, late fees and all, even after an action dated
  the day after it (allowed, audited, by the operator);
- a forward-dated action is refused, and an allowed one no longer stops end of day;
- a closed date never runs again: the book does not go back.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from bnpl.domain.errors import InvalidState
from bnpl.eod import catch_up, run_eod
from bnpl.runtime import ADMIN, Platform
from bnpl.services import parties, repayments
from bnpl.store import tables as t
from tests.collections import helpers as h
from tests.conftest import START
from tests.world import World

TRIAL = 7  # World's merchant: a pay-after-trial bill falls due seven days after delivery
GRACE = 3  # no late fee in the first three days past due
DUE = START + timedelta(days=TRIAL)


def operator(platform: Platform) -> Platform:
    """The same platform with forward dates allowed (BNPL_ALLOW_FORWARD_DATES)."""
    settings = dataclasses.replace(platform.settings, allow_forward_dates=True)
    return Platform(
        settings, platform.clock, platform.engine, platform.rules, platform.models, platform.calendar
    )


def closed_dates(platform: Platform) -> list[date]:
    return [r.business_date for r in h.rows(platform, t.business_days)]


def late_fee_days(platform: Platform) -> list[date]:
    entries = h.rows(platform, t.journal_entries, t.journal_entries.c.kind == "late_fees")
    return sorted(e.business_date for e in entries)


def overdue_book(platform: Platform) -> World:
    """A customer whose bill fell due on DUE and was never paid; end of day every day from START
    through four days past due (the first late fee)."""
    h.skip_refreshes(platform)
    w = World.create(platform)
    w.buy(("tea", 500_00, 1))
    h.run_day(platform)
    h.run_days(platform, TRIAL + GRACE + 1)
    assert h.today(platform) == DUE + timedelta(days=GRACE + 1)
    assert late_fee_days(platform) == [h.today(platform)]
    return w


# --- a missed night ------------------------------------------------------------------------------


def test_catch_up_after_a_missed_night_runs_the_missed_date(platform: Platform) -> None:
    w = overdue_book(platform)
    night = h.today(platform)
    missed, today = night + timedelta(days=1), night + timedelta(days=2)
    h.go_to(platform, today)  # nobody ran end of day for `missed`
    with pytest.raises(InvalidState, match=f"after the open business date {missed}"):
        w.repay(100)  # the day after the open one: refused, nothing recorded
    # the operator lets it through, audited
    operator(platform).run(w.customer, lambda c: repayments.repay(c, w.customer_id, 100))
    with pytest.raises(InvalidState, match=r"would skip .*--catch-up"):
        run_eod(platform)
    days = catch_up(platform, today, on_step=h.skipping_refreshes)
    assert [d["business_date"] for d in days] == [missed.isoformat(), today.isoformat()]
    assert late_fee_days(platform) == [night, missed, today]  # the missed day's late fee is charged
    assert closed_dates(platform)[-2:] == [missed, today]
    forward = h.rows(platform, t.audit_log, t.audit_log.c.action == "business_date.forward")
    assert [(r.business_date, r.actor) for r in forward] == [(today, f"customer:{w.customer_id}")]


# --- a forward-dated action ---------------------------------------------------------------------


def test_an_action_after_the_open_business_date_is_refused(platform: Platform) -> None:
    h.skip_refreshes(platform)
    World.create(platform)
    h.run_day(platform)  # START closes: the open business date is START + 1
    h.go_to(platform, date(2027, 12, 31))
    with pytest.raises(InvalidState, match="2027-12-31 is after the open business date 2026-03-03"):
        h.customer(platform)
    h.go_to(platform, START + timedelta(days=1))
    h.customer(platform)  # the open date itself is fine...
    h.go_to(platform, START)
    h.customer(platform)  # ... and so is a closed one (end of day for the next date sees it)


def test_an_allowed_forward_dated_action_does_not_stop_end_of_day(platform: Platform) -> None:
    h.skip_refreshes(platform)
    World.create(platform)
    h.run_day(platform)
    h.go_to(platform, date(2027, 12, 31))
    forward = operator(platform)
    forward.run(ADMIN, lambda c: parties.create_customer(c, "X", 100))
    forward.run(ADMIN, lambda c: parties.create_customer(c, "Y", 100))
    [record] = h.rows(platform, t.audit_log, t.audit_log.c.action == "business_date.forward")
    assert (record.business_date, record.actor, record.after["open_business_date"]) == (
        date(2027, 12, 31),
        "admin",
        "2026-03-03",
    )  # once a date, with who let it through
    h.go_to(platform, START + timedelta(days=1))
    assert h.run_day(platform)["business_date"] == "2026-03-03"  # the next night runs as usual
    assert closed_dates(platform) == [START, START + timedelta(days=1)]


def test_on_an_empty_calendar_the_first_end_of_day_decides(platform: Platform) -> None:
    h.skip_refreshes(platform)
    h.go_to(platform, date(2027, 12, 31))
    h.customer(platform)  # no date is closed yet: nothing to be after
    h.go_to(platform, START)
    h.run_day(platform)
    assert closed_dates(platform) == [START]


# --- a closed date -------------------------------------------------------------------------------


def case_dpd(platform: Platform, customer_id: int) -> int:
    [case] = h.rows(platform, t.collection_cases, t.collection_cases.c.customer_id == customer_id)
    return int(case.dpd)


def test_a_closed_date_never_runs_again(platform: Platform) -> None:
    w = overdue_book(platform)
    h.run_days(platform, 1)
    assert case_dpd(platform, w.customer_id) == GRACE + 2
    book = h.book(platform)
    h.go_to(platform, h.today(platform) - timedelta(days=2))
    with pytest.raises(InvalidState, match=r"cannot run for .*that business date is closed"):
        h.run_day(platform)
    assert catch_up(platform, h.today(platform)) == []  # nothing to catch up, nothing run again
    h.assert_same_book(h.book(platform), book, "an earlier closed date ran again")
    assert case_dpd(platform, w.customer_id) == GRACE + 2


def test_the_last_closed_date_runs_again_as_a_no_op_until_the_next_day_begins(platform: Platform) -> None:
    w = overdue_book(platform)
    book = h.book(platform)
    again = h.run_day(platform)
    assert again["rerun"] is True and again["steps"]["late_fees"]["already_done"] is True
    h.assert_same_book(h.book(platform), book, "the last closed date ran again")
    h.go_to(platform, h.today(platform) + timedelta(days=1))
    w.repay(100)  # the open date begins
    h.go_to(platform, h.today(platform) - timedelta(days=1))
    with pytest.raises(InvalidState, match="already has entries dated"):
        h.run_day(platform)


def test_end_of_day_that_would_skip_dates_is_refused_unless_allowed(
    platform: Platform,
) -> None:
    h.skip_refreshes(platform)
    World.create(platform)
    h.run_day(platform)
    h.go_to(platform, START + timedelta(days=3))
    with pytest.raises(InvalidState, match=r"would skip 2026-03-03 to 2026-03-04 .*--catch-up"):
        h.run_day(platform)
    assert closed_dates(platform) == [START]
    run_eod(operator(platform), on_step=h.skipping_refreshes)
    assert closed_dates(platform) == [START, START + timedelta(days=3)]
    assert h.rows(platform, t.audit_log, t.audit_log.c.action == "business_date.forward")


# --- the hot path --------------------------------------------------------------------------------


def test_the_open_date_is_read_once_then_cached(platform: Platform) -> None:
    h.skip_refreshes(platform)
    World.create(platform)
    h.run_day(platform)
    h.go_to(platform, START + timedelta(days=1))
    reads: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "business_days" in statement:
            reads.append(statement)

    event.listen(platform.engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            h.customer(platform)
    finally:
        event.remove(platform.engine, "before_cursor_execute", count)
    assert len(reads) <= 1
    with platform.read() as c:
        assert c.conn.execute(select(t.business_days.c.business_date)).scalars().all() == [START]


# --- over HTTP -----------------------------------------------------------------------------------


def test_the_api_catches_up_and_refuses_forward_dates_with_409(platform: Platform) -> None:
    from fastapi.testclient import TestClient

    from bnpl.app import create_app
    from tests.api.conftest import ADMIN_KEY, Api
    from tests.api.test_api import is_problem

    with TestClient(create_app(platform)) as client:
        api = Api(client)
        api.setup()
        assert api.post("/admin/eod", ADMIN_KEY).json()["business_date"] == START.isoformat()
        h.go_to(platform, START + timedelta(days=3))
        refused = is_problem(api.post("/admin/eod", ADMIN_KEY), 409, "invalid-state")
        assert "catch_up=true" in refused["detail"]
        is_problem(
            api.post("/customers", ADMIN_KEY, {"name": "X", "credit_limit": 100}), 409, "invalid-state"
        )
        days = api.post("/admin/eod?catch_up=true", ADMIN_KEY).json()["days"]
        assert [d["business_date"] for d in days] == ["2026-03-03", "2026-03-04", "2026-03-05"]
        assert api.post("/customers", ADMIN_KEY, {"name": "X", "credit_limit": 100}).status_code == 201
    assert closed_dates(platform)[-1] == START + timedelta(days=3)
