"""The `bnpl` command line: one module per command group, each calling the same services as the API.

The groups are put together here, on the root app of `bnpl.cli.app`, which owns the shared `--date`
option and the error handling: bad input prints one line and exits non-zero."""

from bnpl.cli import (
    apikeys,
    books,
    collections,
    credit,
    customers,
    data_keys,
    db,
    eod,
    merchants,
    orders,
    payments,
    reviews,
    risk,
    serve,
    simulate,
    staff,
)
from bnpl.cli.app import app, main
from bnpl.cli.marketplace import marketplace_app

for group, name in (
    (db.app, "db"),
    (merchants.app, "merchant"),
    (customers.app, "customer"),
    (orders.order_app, "order"),
    (orders.return_app, "return"),
    (eod.app, "eod"),
    (books.ledger_app, "ledger"),
    (books.audit_app, "audit"),
    (reviews.review_app, "review"),
    (reviews.decision_app, "decision"),
    (reviews.rules_app, "rules"),
    (credit.model_app, "model"),
    (credit.limit_app, "limit"),
    (risk.risk_app, "risk"),
    (collections.collections_app, "collections"),
    (collections.compliance_app, "compliance"),
    (staff.staff_app, "staff"),
    (data_keys.keys_app, "data-keys"),
    (apikeys.key_app, "key"),
    (marketplace_app, "marketplace"),
):
    app.add_typer(group, name=name)
app.command()(serve.serve)
app.command()(payments.repay)
app.command()(payments.refund)
app.command("reverse-payment")(payments.reverse_payment)
app.command()(simulate.simulate)

__all__ = ["app", "main"]
