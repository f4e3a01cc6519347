"""Schemathesis in the suite (the harness and its world are in ``tests/api/fuzz.py``): a few
hundred generated requests, with each role's key, to a real server on a SQLite platform; not one
may be answered with a 5xx or with a body its documented schema does not describe."""

from __future__ import annotations

from tests.api import fuzz


def test_fuzzed_requests_get_no_server_error_and_documented_answers() -> None:
    report = fuzz.run()
    print(report.summary())  # pytest -s shows the figures
    # the run reached the API as every role, with answers of every kind (a run that only ever got
    # 401s or 422s would prove little)
    assert set(report.cases) == set(fuzz.ROLES) and sum(report.cases.values()) >= 300, report.summary()
    assert {200, 201, 403, 404, 422} <= set(report.statuses), report.summary()
    assert report.server_errors == 0, report.summary()
    assert report.failures == [] and report.errors == [], report.summary()
