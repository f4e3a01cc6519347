"""Step ``charge_off``: write off every account at or past the charge-off DPD. Its open
obligations move to credit loss, the line is closed to new credit for good, and later payments
are recoveries. Running it twice changes nothing: a written-off account has nothing open."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from bnpl.domain import postings
from bnpl.eod.ageing import ageing_today
from bnpl.eod.steps import Step, Summary
from bnpl.runtime import Ctx
from bnpl.services import audit
from bnpl.services.ledger import post
from bnpl.store.bulk import among, chunks
from bnpl.store.tables import credit_accounts, obligations

obligation = obligations.c
account = credit_accounts.c


def charge_off(ctx: Ctx) -> Summary:
    limit = ctx.settings.collections.charge_off_dpd
    due = sorted(cid for cid, dpd in ageing_today(ctx).items() if dpd >= limit)
    write_offs: list[postings.WriteOff] = []
    principal_by_customer: dict[int, int] = {}
    for chunk in chunks(ctx.conn, due):
        for o in ctx.conn.execute(
            select(obligations)
            .where(among(ctx.conn, obligation.customer_id, chunk), obligation.status == "open")
            .order_by(obligation.customer_id, obligation.id)
        ):
            principal, fee = o.principal - o.principal_paid, o.fee - o.fee_paid
            write_offs.append(postings.WriteOff(o.customer_id, o.order_id, o.id, principal, fee, o.kind))
            principal_by_customer[o.customer_id] = principal_by_customer.get(o.customer_id, 0) + principal
    if not write_offs:
        return {"accounts": 0, "amount": 0}
    post(ctx, postings.charge_off(ctx.today, write_offs))
    ids = [w.obligation_id for w in write_offs]
    for chunk in chunks(ctx.conn, ids):
        ctx.conn.execute(
            obligations.update().where(among(ctx.conn, obligation.id, chunk)).values(status="charged_off")
        )
    ctx.conn.execute(
        credit_accounts.update()
        .where(account.customer_id == bindparam("cid"))
        .values(
            state="charged_off",
            frozen_by=None,
            outstanding=account.outstanding - bindparam("p"),
            updated_at=ctx.now,
        ),
        [{"cid": cid, "p": principal} for cid, principal in sorted(principal_by_customer.items())],
    )
    audit.record_many(
        ctx,
        [
            (
                f"customer:{cid}",
                "account.charged_off",
                "credit_account",
                cid,
                None,
                {"principal_written_off": principal, "dpd_limit": limit},
            )
            for cid, principal in sorted(principal_by_customer.items())
        ],
    )
    return {"accounts": len(principal_by_customer), "amount": sum(w.principal + w.fee for w in write_offs)}


STEP = Step("charge_off", charge_off)
