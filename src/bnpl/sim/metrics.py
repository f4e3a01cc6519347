"""The season's figures, read back from the platform's own records (ledger, decisions, ageing,
cases, contacts) and, for what only the simulator knows (true PDs, the control group, the fate of
declined loans), from its :class:`~bnpl.sim.state.Truth`.

Every money figure is integer fen summed from ledger lines or obligations; rates are floats. The
report draws its charts from exactly this dictionary, and ``metrics.json`` is this dictionary, so a
figure on the page is a figure in the file.

Definitions a reader needs:

* *approval rate*: approved checkouts (on the spot or after review) over all pay-later checkouts;
* *conversion*: purchase intents that ended in a purchase, for shoppers shown the offer versus the
  randomised control group never shown it; *uplift* is the relative difference;
* *bad*: an order with a bill still unpaid 30 days after its due date (the label the platform
  trains on, ``credit.platform_data.labels``); AUCs are over orders matured by the season's end;
* *loss rate*: principal and fees written off, less recoveries, plus what is still owed 90 or more
  days past due (not yet written off), over the amount financed (net of returns);
* *capital employed*: cash paid out to merchants less cash collected from customers, day by day;
* *feed-only AUC*: a logistic regression on the marketplace feed features alone, as of each
  shopper's first pay-later checkout, cross-validated against that checkout's drawn fate
  (``sim/feed_check.py``); None without the feed (the ``no-feed`` policy).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from bnpl.domain.ledger import Account
from bnpl.runtime import Ctx
from bnpl.services import book_frames
from bnpl.services.checks import check_ledger
from bnpl.sim.feed_check import feed_only

RECEIVABLE = (Account.CUSTOMER_PRINCIPAL.value, Account.CUSTOMER_FEE.value)
INCOME = {
    "mdr_income": Account.MDR_INCOME.value,
    "fee_income": Account.FEE_INCOME.value,
    "late_fee_income": Account.LATE_FEE_INCOME.value,
    "recovery_income": Account.RECOVERY_INCOME.value,
}
CURE_WINDOW_DAYS = 14


def measure(ctx: Ctx, intents: pd.DataFrame, loans: pd.DataFrame, start: date, end: date) -> dict[str, Any]:
    """All the season's figures; ``end`` is the last business date simulated."""
    lines = book_frames.ledger_frame(ctx)
    book = book_frames.orders_frame(ctx)
    decided = book_frames.decisions_frame(ctx)
    # what the champion said at each checkout (None: no model scored it), read once for all figures
    credit = [(inputs or {}).get("credit") or {} for inputs in decided["inputs"]] if len(decided) else []
    decided["model_pd"] = pd.Series([c.get("pd") for c in credit], index=decided.index, dtype=float)
    decided["thin_file"] = pd.Series([c.get("thin_file") for c in credit], index=decided.index, dtype=object)
    decided["grade"] = pd.Series([c.get("grade") for c in credit], index=decided.index, dtype=object)
    bills = book_frames.obligations_frame(ctx)
    problems = check_ledger(ctx)["problems"]
    out: dict[str, Any] = {
        "season": {"start": start.isoformat(), "end": end.isoformat(), "days": (end - start).days + 1},
        "ledger_balanced": not problems,
        "ledger_problems": problems[:20],
    }
    out.update(_decisions(book, decided, intents, loans))
    out.update(_conversion(intents))
    out["gmv_by_channel"] = _gmv(book, intents)
    out["returns"] = _returns(book)
    out["over_time"] = _over_time(lines, start, end)
    out["delinquency"] = _delinquency(ctx)
    out["vintages"] = _vintages(lines, bills, book, end)
    out.update(_models(ctx, book, decided, loans, end))
    out.update(feed_only(ctx, intents, book))  # the feed features alone, against the drawn fates
    out["collections"] = _collections(ctx)
    out["economics"] = _economics(lines, bills, book, decided, loans, end)
    capital = pd.Series(out["over_time"]["capital_employed"]).clip(lower=0)
    financed = out["economics"]["totals"]["financed"]
    season_turns = financed / capital.mean() if capital.mean() > 0 else None
    out["economics"]["capital_turnover"] = {
        "average_capital_employed": round(float(capital.mean())),
        "season": None if season_turns is None else round(season_turns, 3),
        "annualised": None if season_turns is None else round(season_turns * 365 / len(capital), 2),
    }
    out["loss_rate"] = out["economics"]["loss_rate"]
    out |= _calibration(out["economics"])
    out.update(report_figures(ctx, loans, end, out))
    return out


# --- reading ------------------------------------------------------------------------------------


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


# --- decisions, fraud -----------------------------------------------------------------------------


def _decisions(
    book: pd.DataFrame, decided: pd.DataFrame, intents: pd.DataFrame, loans: pd.DataFrame
) -> dict[str, Any]:
    total = len(book)  # every checkout is an order row, declined ones included
    outcome_of = decided.set_index("id")["outcome"] if len(decided) else pd.Series(dtype=str)
    approved_orders = _approved(book, outcome_of)
    approved = int(approved_orders.sum()) if total else 0
    reasons: dict[str, int] = {}
    declined = decided[decided["outcome"] != "approve"] if len(decided) else decided
    for rs in declined.get("reasons", []):
        for r in rs:
            if r["code"] not in ("WITHIN_LIMIT", "STARTER_LIMIT"):
                reasons[r["code"]] = reasons.get(r["code"], 0) + 1
    outcomes = decided["outcome"].value_counts().to_dict() if len(decided) else {}
    # fraud and good customers, by what the platform did with their checkouts
    tried = intents[intents["order_id"].notna()].copy() if len(intents) else intents
    fraud: dict[str, int] = {"caught": 0, "missed": 0, "good_declined": 0, "good_approved": 0}
    if len(tried):
        tried["approved"] = tried["order_id"].astype(int).map(approved_orders).fillna(False).astype(bool)
        is_fraud = tried["fraud"] != "none"
        fraud["caught"] = int((is_fraud & ~tried["approved"]).sum())
        fraud["missed"] = int((is_fraud & tried["approved"]).sum())
        good = ~is_fraud & ~tried["fate_bad"]
        fraud["good_declined"] = int((good & ~tried["approved"]).sum())
        fraud["good_approved"] = int((good & tried["approved"]).sum())
    return {
        "checkouts": total,
        "approved": approved,
        "approval_rate": _rate(approved, total),
        "outcomes": {k: int(v) for k, v in sorted(outcomes.items())},
        "top_decline_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:8]),
        "fraud": fraud,
        # good shoppers' checkouts declined or lowered (not approved as asked), over all of theirs
        "good_declined_rate": _rate(fraud["good_declined"], fraud["good_declined"] + fraud["good_approved"]),
    }


def _approved(book: pd.DataFrame, outcome_of: pd.Series) -> pd.Series:
    """Per order id: approved at checkout, or in review and then approved by an analyst (an order
    that left review for "expired" or "declined" was not; a lower offer authorizes nothing)."""
    if not len(book):
        return pd.Series(dtype=bool)
    outcome = book["decision_id"].map(outcome_of)
    reviewed_yes = (outcome == "review") & ~book["status"].isin(["review", "declined", "expired"])
    return pd.Series(((outcome == "approve") | reviewed_yes).to_numpy(), index=book["order_id"].astype(int))


# --- conversion and stickiness ------------------------------------------------------------------


def _conversion(intents: pd.DataFrame) -> dict[str, Any]:
    """Honest shoppers only: a fraudster's "purchase" is no conversion (and only the offer group's
    fraudsters get one)."""
    groups: dict[str, Any] = {}
    honest = intents[intents["fraud"] == "none"] if len(intents) else intents
    for name, control in (("offer", False), ("control", True)):
        g = honest[honest["control"] == control] if len(honest) else honest
        buyers = g[g["purchased"]].groupby("shopper").size() if len(g) else pd.Series(dtype=int)
        groups[name] = {
            "intents": len(g),
            "purchases": int(g["purchased"].sum()) if len(g) else 0,
            "conversion": _rate(int(g["purchased"].sum()), len(g)) if len(g) else None,
            "buyers": len(buyers),
            "repeat_rate": _rate(int((buyers >= 2).sum()), len(buyers)),
        }
    with_offer, without = groups["offer"]["conversion"], groups["control"]["conversion"]
    uplift = round(with_offer / without - 1, 4) if with_offer is not None and without else None
    return {"conversion": groups, "conversion_uplift": uplift}


def _gmv(book: pd.DataFrame, intents: pd.DataFrame) -> dict[str, dict[str, int]]:
    shipped = book[book["captured_on"].notna()]
    bnpl = (shipped["amount"] - shipped["returned_amount"]).groupby(shipped["channel"]).sum()
    direct = intents[intents["purchased"] & ~intents["bnpl"]] if len(intents) else intents
    other = direct.groupby("channel")["amount"].sum() if len(direct) else pd.Series(dtype=int)
    channels = sorted(set(bnpl.index) | set(other.index))
    return {c: {"pay_later": int(bnpl.get(c, 0)), "paid_at_checkout": int(other.get(c, 0))} for c in channels}


def _returns(book: pd.DataFrame) -> dict[str, Any]:
    shipped = book[book["captured_on"].notna()]
    returned = shipped[shipped["returned_amount"] > 0]
    return {
        "orders_shipped": len(shipped),
        "orders_returned": len(returned),
        "return_rate": _rate(len(returned), len(shipped)),
        "amount_shipped": int(shipped["amount"].sum()),
        "amount_returned": int(shipped["returned_amount"].sum()),
        "by_channel": {
            str(c): _rate(int((g["returned_amount"] > 0).sum()), len(g))
            for c, g in shipped.groupby("channel")
        },
    }


# --- the book over time -------------------------------------------------------------------------


def _over_time(lines: pd.DataFrame, start: date, end: date) -> dict[str, list[Any]]:
    days = pd.date_range(start, end, freq="D")

    def running(accounts: tuple[str, ...], sign: int = 1) -> list[int]:
        daily = lines[lines["account"].isin(accounts)].groupby("business_date")["amount"].sum()
        return [int(v) * sign for v in daily.reindex(days, fill_value=0).cumsum()]

    return {
        "dates": [d.date().isoformat() for d in days],
        "outstanding": running(RECEIVABLE),
        # cash out to merchants less cash in from customers: what the funding facility carries
        "capital_employed": running((Account.CASH.value,), -1),
    }


def _delinquency(ctx: Ctx) -> dict[str, Any]:
    ageing = book_frames.ageing_frame(ctx)
    by_bucket: dict[str, list[int]] = {}
    dates: list[str] = []
    if len(ageing):
        table = ageing.pivot_table(
            index="business_date", columns="bucket", values="overdue_amount", aggfunc="sum", fill_value=0
        ).sort_index()
        dates = [str(d) for d in table.index]
        by_bucket = {str(b): [int(v) for v in table[b]] for b in table.columns}
    rolls = book_frames.roll_rates_frame(ctx)
    matrix: dict[str, dict[str, float]] = {}
    if len(rolls):
        totals = rolls.groupby(["from_bucket", "to_bucket"])["accounts"].sum()
        for (frm, to), n in totals.items():
            matrix.setdefault(str(frm), {})[str(to)] = int(n)
        for frm, row in matrix.items():
            whole = sum(row.values())
            matrix[frm] = {to: round(n / whole, 4) for to, n in sorted(row.items())}
    return {"dates": dates, "overdue_by_bucket": by_bucket, "roll_rates": matrix}


def _vintages(lines: pd.DataFrame, bills: pd.DataFrame, book: pd.DataFrame, end: date) -> dict[str, Any]:
    """Per month of shipment: the share of the amount financed that was 30+ days past due (or
    written off), 30, 60, 90 … days after the month began."""
    ob = bills[bills["kind"] == "instalment"]
    shipped = book[book["captured_on"].notna()].copy()
    if not len(ob) or not len(shipped):
        return {}
    shipped["vintage"] = pd.to_datetime(shipped["captured_on"]).dt.to_period("M").astype(str)
    financed = (shipped["amount"] - shipped["returned_amount"]).groupby(shipped["vintage"]).sum()
    principal = lines[lines["account"] == Account.CUSTOMER_PRINCIPAL.value]
    curves: dict[str, list[float]] = {}
    for vintage, group in shipped.groupby("vintage"):
        month0 = pd.Period(vintage).start_time
        mine = ob[ob["order_id"].isin(group["order_id"])]
        lines_of = principal[principal["obligation_id"].isin(mine["id"])]
        points = []
        for k in range(1, 13):
            cut = month0 + pd.Timedelta(days=30 * k)
            if cut.date() > end:
                break
            late = mine[mine["due_date"] <= cut - pd.Timedelta(days=30)]
            owed = lines_of[(lines_of["business_date"] <= cut) & lines_of["obligation_id"].isin(late["id"])]
            bad = owed.groupby("obligation_id")["amount"].sum().clip(lower=0).sum()
            written = lines[
                (lines["account"] == Account.CREDIT_LOSS.value)
                & lines["order_id"].isin(group["order_id"])
                & (lines["business_date"] <= cut)
            ]["amount"].sum()
            points.append(
                round(float(bad + written) / float(financed[vintage]), 4) if financed[vintage] else 0.0
            )
        curves[str(vintage)] = points
    return {
        "months_on_book": list(range(1, 13)),
        "curves": curves,
        "financed": {k: int(v) for k, v in financed.items()},
    }


# --- models --------------------------------------------------------------------------------------


def _models(
    ctx: Ctx, book: pd.DataFrame, decided: pd.DataFrame, loans: pd.DataFrame, end: date
) -> dict[str, Any]:
    as_of = datetime.combine(end, time.max, tzinfo=UTC)  # all of the last day, bills due 30 days before it
    outcome = book_frames.matured_labels(ctx, as_of)
    empty = {
        "model_auc": None,
        "oracle_auc": None,
        "model_auc_first_orders": None,
        "auc": {"orders": len(outcome), "bad": None},
    }
    if not len(outcome) or not len(loans):
        return empty
    by_id = decided.set_index("id")
    frame = outcome.merge(book[["order_id", "decision_id"]], on="order_id").merge(
        loans[["order_id", "true_pd"]], on="order_id"
    )
    frame["model_pd"] = frame["decision_id"].map(by_id["model_pd"])
    frame = frame[frame["model_pd"].notna()]
    if frame["bad"].nunique() < 2:
        return {**empty, "auc": {"orders": len(frame), "bad": int(frame["bad"].sum())}}
    y = frame["bad"].to_numpy()
    # each customer's first pay-later order (the first they were charged for), if it matured
    shipped = book[book["captured_on"].notna()].sort_values("order_id")
    firsts = set(shipped.drop_duplicates("customer_id")["order_id"].astype(int))
    first = frame[frame["order_id"].astype(int).isin(firsts)]
    result: dict[str, Any] = {
        "model_auc": round(float(roc_auc_score(y, frame["model_pd"].astype(float))), 4),
        "oracle_auc": round(float(roc_auc_score(y, frame["true_pd"])), 4),
        "model_auc_first_orders": _auc(first["bad"], first["model_pd"]),
        "auc": {"orders": len(frame), "bad": int(y.sum()), "first_orders": len(first)},
    }
    # a thin file (no bill fallen due yet) gives the model nothing to tell customers apart by
    thin = frame["decision_id"].map(by_id["thin_file"]).fillna(True).astype(bool)
    history = frame[~thin]
    result["auc"]["with_history"] = {
        "orders": len(history),
        "bad": int(history["bad"].sum()),
        "model_auc": _auc(history["bad"], history["model_pd"]),
        "oracle_auc": _auc(history["bad"], history["true_pd"]),
    }
    for name, score in (("model", frame["model_pd"].astype(float)), ("oracle", frame["true_pd"])):
        fpr, tpr, _ = roc_curve(y, score)
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 60)).astype(int))
        result["auc"][f"{name}_roc"] = [[round(float(fpr[i]), 4), round(float(tpr[i]), 4)] for i in keep]
    return result


def _auc(y: pd.Series, score: pd.Series) -> float | None:
    return round(float(roc_auc_score(y, score.astype(float))), 4) if y.nunique() == 2 else None


def _calibration(economics: dict[str, Any]) -> dict[str, Any]:
    """The model's expected loss over the truth's (PD times what was financed, per shipped order),
    overall and per channel: 1 is a PD that means what it says."""

    def ratio(row: dict[str, int]) -> float | None:
        return _rate(row["expected_loss_model"], row["expected_loss_true"])

    return {
        "expected_loss_ratio": ratio(economics["totals"]),
        "expected_loss_ratio_by_channel": {k: ratio(v) for k, v in economics["by_channel"].items()},
        # predicted against true PD by the grade the checkout gave (weighted by what was financed)
        "calibration_by_grade": {
            grade: {
                "financed": row["financed"],
                "model_pd": _rate(row["expected_loss_model"], row["financed"]),
                "true_pd": _rate(row["expected_loss_true"], row["financed"]),
            }
            for grade, row in economics["by_grade"].items()
            if row["financed"] > 0
        },
    }


# --- collections ---------------------------------------------------------------------------------


def _collections(ctx: Ctx) -> dict[str, Any]:
    """Per action made on an open case, the share of those cases that closed cured in the two
    weeks after it (a call or visit that reached nobody is its own action: "call_unanswered")."""
    tried = book_frames.case_contacts_frame(ctx)
    cases = book_frames.cases_frame(ctx)
    out: dict[str, Any] = {
        "cases": len(cases),
        "cured": int((cases["close_reason"] == "cured").sum()) if len(cases) else 0,
    }
    out["blocked_by_rule"] = (
        {str(r): int(n) for r, n in tried[tried["allowed"] == 0]["rule"].value_counts().items()}
        if len(tried)
        else {}
    )
    made = tried[tried["allowed"] == 1].copy() if len(tried) else tried
    if not len(made) or not len(cases):
        out["cure_rate_by_action"] = {}
        return out
    made["action"] = np.where(
        (made["channel"].isin(["call", "field_visit"])) & (made["reached"] == 0),
        made["channel"] + "_unanswered",
        made["channel"],
    )
    made["business_date"] = pd.to_datetime(made["business_date"])
    joined = made.merge(cases, on="case_id", how="left")
    closed = pd.to_datetime(joined["closed_on"])
    # cured after the contact (the next day at the earliest: a shopper answers yesterday's nudge)
    joined["cured"] = (
        (joined["close_reason"] == "cured")
        & (closed > joined["business_date"])
        & (closed <= joined["business_date"] + pd.Timedelta(days=CURE_WINDOW_DAYS))
    )
    per = joined.groupby(["action", "case_id", "business_date"])["cured"].any().reset_index()
    out["cure_rate_by_action"] = {
        str(action): {"contacts": len(g), "cure_rate": _rate(int(g["cured"].sum()), len(g))}
        for action, g in per.groupby("action")
    }
    return out


# --- unit economics ------------------------------------------------------------------------------


def _economics(
    lines: pd.DataFrame,
    bills: pd.DataFrame,
    book: pd.DataFrame,
    decided: pd.DataFrame,
    loans: pd.DataFrame,
    end: date,
) -> dict[str, Any]:
    """Income less funding cost, losses and collection cost, in total and per order, merchant and
    channel. Funding cost (booked for the whole book) is shared by each order's receivable-days;
    collection cost (booked per customer) by each customer's orders."""
    shipped = book[book["captured_on"].notna()].copy()
    per_order = pd.DataFrame(index=shipped["order_id"].astype(int))
    for name, account in INCOME.items():
        sel = lines[lines["account"] == account]
        per_order[name] = (-sel.groupby("order_id")["amount"].sum()).reindex(per_order.index, fill_value=0)
    loss = lines[lines["account"] == Account.CREDIT_LOSS.value]
    per_order["written_off"] = loss.groupby("order_id")["amount"].sum().reindex(per_order.index, fill_value=0)
    # owed 90+ days past due and not written off: counted as lost
    receivable = lines[lines["account"].isin(RECEIVABLE) & lines["obligation_id"].notna()]
    balance = receivable.groupby("obligation_id")["amount"].sum()
    due = bills.set_index("id")["due_date"]
    long_due = due[due <= pd.Timestamp(end - timedelta(days=90))].index
    late = balance[(balance > 0) & balance.index.isin(long_due)]
    order_of = bills.set_index("id")["order_id"]
    per_order["owed_90_plus"] = (
        late.groupby(late.index.map(order_of)).sum().reindex(per_order.index, fill_value=0)
    )
    # funding cost (one figure for the whole book) shared by each order's receivable-days
    funding = int(lines[lines["account"] == Account.FUNDING_COST.value]["amount"].sum())
    days_left = (pd.Timestamp(end) - receivable["business_date"]).dt.days + 1
    weight = (receivable["amount"] * days_left).groupby(receivable["order_id"]).sum().clip(lower=0)
    weight = weight.reindex(per_order.index, fill_value=0)
    per_order["funding_cost"] = _share(int(funding), weight)
    cost = lines[lines["account"] == Account.COLLECTION_COST.value]
    per_customer = cost.groupby("customer_id")["amount"].sum()
    owner = shipped.set_index("order_id")["customer_id"].reindex(per_order.index)
    counts = owner.map(owner.value_counts())
    per_order["collection_cost"] = (owner.map(per_customer).fillna(0) / counts).round().astype(int)
    financed = (shipped["amount"] - shipped["returned_amount"]).to_numpy()
    per_order["financed"] = financed
    pd_model = shipped["decision_id"].map(decided.set_index("id")["model_pd"]).astype(float).to_numpy()
    per_order["expected_loss_model"] = np.round(np.nan_to_num(pd_model) * financed).astype(int)
    true_pd = loans.set_index("order_id")["true_pd"] if len(loans) else pd.Series(dtype=float)
    per_order["expected_loss_true"] = np.round(
        per_order.index.map(true_pd).fillna(0).to_numpy() * financed
    ).astype(int)
    per_order["net"] = (
        per_order["mdr_income"]
        + per_order["fee_income"]
        + per_order["late_fee_income"]
        + per_order["recovery_income"]
        - per_order["funding_cost"]
        - per_order["written_off"]
        - per_order["owed_90_plus"]
        - per_order["collection_cost"]
    )
    per_order["channel"] = shipped.set_index("order_id")["channel"].reindex(per_order.index)
    grade = shipped["decision_id"].map(decided.set_index("id")["grade"]) if len(decided) else None
    per_order["grade"] = "—" if grade is None else grade.fillna("—").to_numpy()
    per_order["merchant_id"] = shipped.set_index("order_id")["merchant_id"].reindex(per_order.index)
    columns = [
        "financed",
        "mdr_income",
        "fee_income",
        "late_fee_income",
        "recovery_income",
        "funding_cost",
        "written_off",
        "owed_90_plus",
        "collection_cost",
        "expected_loss_model",
        "expected_loss_true",
        "net",
    ]
    totals = {c: int(per_order[c].sum()) for c in columns}
    totals["funding_cost"] = int(funding)  # the ledger's figure, whatever rounding of the shares
    totals["collection_cost"] = int(cost["amount"].sum())
    totals["net"] = (  # from the ledger's totals, not the sum of rounded shares
        totals["mdr_income"]
        + totals["fee_income"]
        + totals["late_fee_income"]
        + totals["recovery_income"]
        - totals["funding_cost"]
        - totals["written_off"]
        - totals["owed_90_plus"]
        - totals["collection_cost"]
    )
    lost = totals["written_off"] - totals["recovery_income"] + totals["owed_90_plus"]
    return {
        "totals": totals,
        "orders": len(per_order),
        "per_order": {c: round(totals[c] / len(per_order)) if len(per_order) else 0 for c in columns},
        "by_channel": _grouped(per_order, "channel", columns),
        "by_grade": dict(sorted(_grouped(per_order, "grade", columns).items())),
        "by_merchant": dict(list(_grouped(per_order, "merchant_id", columns).items())[:12]),
        "loss_rate": _rate(lost, totals["financed"]),  # None when nothing was financed
    }


def _share(total: int, weight: pd.Series) -> pd.Series:
    whole = float(weight.sum())
    if not whole:
        return pd.Series(0, index=weight.index)
    return (weight / whole * total).round().astype(int)


def _grouped(per_order: pd.DataFrame, key: str, columns: list[str]) -> dict[str, dict[str, int]]:
    grouped = per_order.groupby(key)[columns].sum().sort_values("financed", ascending=False)
    return {str(k): {c: int(v) for c, v in row.items()} for k, row in grouped.iterrows()}


# --- the report's headline and delinquency figures (appended; keys at the end of the metrics) -----


def report_figures(ctx: Ctx, loans: pd.DataFrame, end: date, out: dict[str, Any]) -> dict[str, Any]:
    """What the report's headline and delinquency chart read beyond the figures above:

    * *expected loss in the book (true)*: for every bill still owed and not yet counted as lost
      (less than 90 days past due), its balance times the true PD of its loan; the loss the
      season's book still carries, which a season too short to see it would otherwise leave out;
    * *net after expected loss*: the net contribution less that expected loss;
    * *delinquency share*: what is past due on each business date, by bucket, over what customers
      owe that day (charged-off amounts are no longer owed and are left out).
    """
    lines = book_frames.ledger_frame(ctx)
    bills = book_frames.obligations_frame(ctx)
    receivable = lines[lines["account"].isin(RECEIVABLE) & lines["obligation_id"].notna()]
    balance = receivable.groupby("obligation_id")["amount"].sum()
    due = bills.set_index("id")["due_date"]
    counted = due[due <= pd.Timestamp(end - timedelta(days=90))].index  # in owed_90_plus already
    open_ = balance[(balance > 0) & ~balance.index.isin(counted)]
    order_of = bills.set_index("id")["order_id"]
    true_pd = loans.set_index("order_id")["true_pd"] if len(loans) else pd.Series(dtype=float)
    pd_of_bill = pd.Series(open_.index.map(order_of), index=open_.index).map(true_pd).fillna(0.0)
    expected = round(float((open_ * pd_of_bill).sum()))
    return {
        "expected_loss_in_book_true": expected,
        "net_after_expected_loss": int(out["economics"]["totals"]["net"]) - expected,
        "delinquency_share": _delinquency_share(out["delinquency"], out["over_time"]),
    }


def _delinquency_share(delinquency: dict[str, Any], over_time: dict[str, Any]) -> dict[str, Any]:
    owed = dict(zip(over_time["dates"], over_time["outstanding"], strict=True))
    dates = delinquency["dates"]
    buckets = [b for b in ("M1", "M2", "M3", "M3+") if b in delinquency["overdue_by_bucket"]]
    by_bucket = {
        b: [
            round(v / owed[d], 4) if owed.get(d, 0) > 0 else None
            for d, v in zip(dates, delinquency["overdue_by_bucket"][b], strict=True)
        ]
        for b in buckets
    }
    total: list[float | None] = []
    for i in range(len(dates)):
        shares = [by_bucket[b][i] for b in buckets]
        total.append(None if None in shares else round(sum(v for v in shares if v is not None), 4))
    return {"dates": dates, "by_bucket": by_bucket, "total": total}
