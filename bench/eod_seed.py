"""Seeding for bench/eod.py: a book of open obligations as the services would have left it, written
set-based on PostgreSQL (INSERT … SELECT over generate_series, COPY for the audit chains).

The book on the benchmark date ``day``:

- merchants (a few hundred, trial 7–14 days, settlement after 3–7 days, MDR 0.6–3%);
- customers with active credit accounts (limit set by staff, ``outstanding`` = unpaid principal of
  their open obligations), about 70% with a credit grade, a few with flags (cease contact, dispute,
  hardship), some with earlier overdue episodes in their audit stream (so the policy blocks some);
- delivered and settled orders, one decision each, plan ``m3`` (three instalments, a 2.3% fee,
  one in ten paid by the merchant) or ``pay_after_trial`` (one, no fee); exactly ``obligations``
  open instalments, 16 to every 10 orders, plus fully paid orders as history;
- about 85% of customers current (what was due is paid, the rest falls due later), the others
  overdue since a date spread over M1 (1–30 days), M2, M3, M3+ and, for about 0.75% of
  customers, 180–239 days (charge-off); a few orders have a pending return;
- the ledger: one capture entry per capture date (receivable per obligation, merchant payable,
  MDR and fee income per order, as ``postings.capture``), one settlement entry per settlement
  date (merchant payable paid in cash) and one repayment entry per payment date (the paid
  instalments against cash, with a payment row per customer and day), so every entry balances,
  each customer's receivable equals their open obligations and `bnpl ledger check` holds;
- collection agents (through ``cases.create_agent``).

Pseudo-random choices come from ``hashint8`` of the row number, so a size always gives the same
book. Ids are written explicitly where rows refer to each other, and the sequences moved past them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bnpl.collections.cases import create_agent
from bnpl.credit.features import NEUTRAL
from bnpl.runtime import ADMIN, Platform
from bnpl.services.audit import GENESIS, _digest
from bnpl.store.tables import metadata

BENCH_DAY = date(2026, 12, 15)
CURRENT_SHARE = 0.85
MERCHANTS = 300
HISTORY_SHARE = 0.10  # fully paid orders, per open order
PENDING_RETURN_SHARE = 0.003
FLAG_SHARE = 0.002  # of customers, for each of cease_contact, dispute and hardship
# The open orders cycle through these shapes: (plan, instalments still open); the first
# instalments of an m3 order with fewer than three open are paid. 16 open per 10 orders.
CYCLE = (
    ("m3", 3),
    ("pay_after_trial", 1),
    ("m3", 2),
    ("m3", 1),
    ("pay_after_trial", 1),
    ("m3", 3),
    ("pay_after_trial", 1),
    ("m3", 2),
    ("pay_after_trial", 1),
    ("m3", 1),
)
OPEN_PER_CYCLE = sum(k for _, k in CYCLE)
AUDIT_COLUMNS = (
    "stream",
    "seq",
    "at",
    "business_date",
    "actor",
    "action",
    "entity",
    "entity_id",
    "before",
    "after",
    "prev_hash",
    "hash",
)

Say = Callable[[str], None]

# --- the shape of the book (staging tables, dropped at the end) ----------------------------------

_FUNCTIONS = """
CREATE FUNCTION bench_u(k bigint, salt int) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8(k * 1000003 + salt)::float8 + 2147483648.0) / 4294967296.0 $$
"""

_MERCHANTS = """
INSERT INTO merchants (id, name, mdr_bps, trial_days, settlement_delay_days, categories, created_at)
SELECT g, 'Bench merchant ' || g, 60 + (g * 37) % 241, 7 + g % 8, 3 + g % 5,
       (ARRAY['["apparel"]', '["beauty"]', '["tea"]', '["home"]'])[g % 4 + 1]::json,
       (:day - 500)::timestamp AT TIME ZONE 'UTC'
FROM generate_series(1, :merchants) g
"""

# No phone or address: the services seal them (store/crypto.py), which SQL cannot, and end of day
# never reads them.
_CUSTOMERS = """
INSERT INTO customers (id, name, timezone, created_at, language)
SELECT g, 'Bench customer ' || g,
       CASE WHEN g % 50 = 0 THEN 'Asia/Urumqi' ELSE 'Asia/Shanghai' END,
       (:day - 400 - g % 30)::timestamp AT TIME ZONE 'UTC' + (g % 36000) * interval '1 second',
       CASE WHEN g % 20 = 0 THEN 'en' ELSE 'zh-CN' END
FROM generate_series(1, :customers) g
"""

# Days past due each customer will have: 0 (current) or a day in M1, M2, M3, M3+, or at least 180.
_CUSTOMER_CLASS = """
CREATE UNLOGGED TABLE bench_customer AS
SELECT id, (CASE
    WHEN u < :current THEN 0
    WHEN w < 0.45 THEN 1 + floor(v * 30)
    WHEN w < 0.65 THEN 31 + floor(v * 30)
    WHEN w < 0.78 THEN 61 + floor(v * 30)
    WHEN w < 0.95 THEN 91 + floor(v * 89)
    ELSE 180 + floor(v * 60) END)::int AS dpd
FROM (SELECT g AS id, bench_u(g, 1) AS u, bench_u(g, 2) AS w, bench_u(g, 3) AS v
      FROM generate_series(1, CAST(:customers AS bigint)) g) s
"""

# One row per order: who, where, which plan, how much, and the due date of its first instalment
# (f0), worked back from the due date of its first open instalment (f_open): on the customer's
# first day past due for the first order of an overdue customer, on or after the benchmark date for
# a current one. Every other date follows as the services set it (capture → delivery → trial end
# → first due; settlement after the merchant's delay, already paid).
_ORDERS_STAGED = """
CREATE UNLOGGED TABLE bench_order AS
WITH base AS (
    SELECT i,
           CASE WHEN i <= :open_orders THEN 1 + ((i - 1) * :stride) % :customers
                ELSE 1 + floor(bench_u(i, 5) * :customers)::bigint END AS customer_id,
           1 + floor(:merchants * bench_u(i, 6) ^ 2)::bigint AS merchant_id,
           CASE WHEN i > :open_orders AND bench_u(i, 4) < 0.6 THEN 'm3'
                WHEN i > :cycled THEN 'pay_after_trial'
                ELSE (CAST(:cycle_plans AS text[]))[(i - 1) % 10 + 1] END AS plan_code,
           CASE WHEN i > :open_orders THEN 0
                WHEN i > :cycled THEN 1
                ELSE (CAST(:cycle_open AS int[]))[(i - 1) % 10 + 1] END AS k_open,
           2 * (5000 + floor(bench_u(i, 7) * 95000))::bigint AS amount,
           (1 + i % 4)::int AS gap,
           (i % 2)::int AS auth_lag
    FROM generate_series(1, CAST(:orders AS bigint)) i
), shaped AS (
    SELECT b.*, c.dpd, m.trial_days, m.settlement_delay_days AS delay, m.mdr_bps,
           CASE WHEN b.plan_code = 'm3' THEN 3 ELSE 1 END AS n_inst
    FROM base b
    JOIN bench_customer c ON c.id = b.customer_id
    JOIN merchants m ON m.id = b.merchant_id
), dated AS (
    SELECT s.*, n_inst - k_open AS j0,
           CASE
               WHEN k_open = 0 AND plan_code = 'm3' THEN :day - 70 - floor(bench_u(i, 9) * 230)::int
               WHEN k_open = 0 THEN :day - 5 - floor(bench_u(i, 9) * 295)::int
               WHEN dpd > 0 AND i <= :customers THEN :day - dpd
               WHEN dpd > 0 AND bench_u(i, 8) < 0.5 THEN :day - dpd + floor(bench_u(i, 9) * dpd)::int
               WHEN plan_code = 'm3' THEN :day + floor(bench_u(i, 9) * 28)::int
               ELSE :day + floor(bench_u(i, 9) * (gap + trial_days - delay))::int
           END AS f_open
    FROM shaped s
), scheduled AS (
    SELECT d.*,
           CASE WHEN k_open = 0 THEN f_open ELSE (f_open - make_interval(months => j0))::date END AS f0,
           CASE WHEN plan_code = 'm3' THEN (amount * 23 + 500) / 1000 ELSE 0 END AS fee_total,
           (amount * mdr_bps + 5000) / 10000 AS mdr,
           CASE WHEN plan_code = 'm3' AND bench_u(i, 10) < 0.1 THEN 'merchant' ELSE 'customer' END
               AS fee_payer,
           k_open > 0 AND bench_u(i, 11) < :pending_share AS pending
    FROM dated d
)
SELECT s.*,
       CASE WHEN fee_payer = 'customer' THEN fee_total ELSE 0 END AS customer_fee,
       CASE WHEN fee_payer = 'merchant' THEN fee_total ELSE 0 END AS merchant_fee,
       f0 - CASE WHEN plan_code = 'm3' THEN 30 ELSE 0 END AS trial_ends_on,
       f0 - CASE WHEN plan_code = 'm3' THEN 30 ELSE 0 END - trial_days AS delivered_on,
       f0 - CASE WHEN plan_code = 'm3' THEN 30 ELSE 0 END - trial_days - gap AS captured_on,
       (f0 - CASE WHEN plan_code = 'm3' THEN 30 ELSE 0 END - trial_days - gap - auth_lag)::timestamp
           AT TIME ZONE 'UTC' + interval '8 hours' + (i % 43200) * interval '1 second' AS created_at,
       CASE WHEN customer_id % 1000 < 3 THEN 'ring-' || customer_id / 1000 ELSE customer_id::text END AS who
FROM scheduled s
"""

_DECISIONS = """
INSERT INTO decisions (id, customer_id, merchant_id, amount, outcome, approved_amount, reasons, inputs,
                       versions, rule_hits, business_date, created_at)
SELECT i, customer_id, merchant_id, amount, 'approve', amount, '[]'::json,
       json_build_object('amount', amount, 'plan', plan_code, 'source', 'bench'),
       '{"rules": "bench", "model": null}'::json, '{"hits": [], "errors": []}'::json,
       captured_on - auth_lag, created_at
FROM bench_order ORDER BY i
"""

_ORDERS = """
INSERT INTO orders (id, merchant_id, customer_id, decision_id, status, currency, amount, returned_amount,
                    pending_return_amount, plan_code, fee_payer, channel, stream_id, creator_id, device_id,
                    address_hash, mdr_bps, trial_days, settlement_delay_days, mdr_amount, merchant_fee,
                    authorized_on, expires_on, captured_on, delivered_on, delivery_assumed, trial_ends_on,
                    settle_on, settled_on, created_at)
SELECT i, merchant_id, customer_id, i, 'delivered', 'CNY', amount, 0,
       CASE WHEN pending THEN amount / 2 ELSE 0 END, plan_code, fee_payer,
       (ARRAY['live_stream', 'short_video', 'mall'])[i % 3 + 1],
       CASE WHEN i % 3 = 0 THEN 'stream-' || merchant_id END, NULL,
       'device-' || who, 'address-' || who,
       mdr_bps, trial_days, delay, mdr, merchant_fee,
       captured_on - auth_lag, captured_on - auth_lag + 7, captured_on, delivered_on, 0, trial_ends_on,
       captured_on + delay, captured_on + delay, created_at
FROM bench_order ORDER BY i
"""

_ITEMS = """
INSERT INTO order_items (order_id, sku, category, unit_price, quantity, returned_quantity, pending_quantity)
SELECT i, 'sku-' || merchant_id || '-' || i % 97, 'apparel', amount / 2, 2, 0,
       CASE WHEN pending THEN 1 ELSE 0 END
FROM bench_order ORDER BY i
"""

_RETURNS = """
INSERT INTO returns (order_id, status, amount, items, reason, requested_on, resolved_on)
SELECT i, 'requested', amount / 2, json_build_object('sku-' || merchant_id || '-' || i % 97, 1),
       'bench: one of two returned', trial_ends_on - 1, NULL
FROM bench_order WHERE pending ORDER BY i
"""

# Principal and fee split evenly, the remainder on the last instalment (``split_evenly``); due
# dates a month apart from f0 (``add_months`` clamps to the month's end, as PostgreSQL does).
_OBLIGATIONS = """
INSERT INTO obligations (order_id, customer_id, seq, due_date, principal, fee, principal_paid, fee_paid,
                         status, kind)
SELECT o.i, o.customer_id, s, (o.f0 + make_interval(months => s - 1))::date, x.p, x.f,
       CASE WHEN x.paid THEN x.p ELSE 0 END, CASE WHEN x.paid THEN x.f ELSE 0 END,
       CASE WHEN x.paid THEN 'paid' ELSE 'open' END, 'instalment'
FROM bench_order o
CROSS JOIN LATERAL generate_series(1, o.n_inst) s
CROSS JOIN LATERAL (
    SELECT o.amount / o.n_inst + CASE WHEN s = o.n_inst THEN o.amount % o.n_inst ELSE 0 END AS p,
           o.customer_fee / o.n_inst + CASE WHEN s = o.n_inst THEN o.customer_fee % o.n_inst ELSE 0 END AS f,
           s - 1 < o.j0 OR o.k_open = 0 AS paid
) x
ORDER BY o.i, s
"""

_ACCOUNTS = """
INSERT INTO credit_accounts (customer_id, currency, credit_limit, outstanding, holds, credit_balance, state,
                             updated_at, customer_limit, paused_until, limit_raised_at, frozen_by,
                             limit_set_by)
SELECT c.id, 'CNY', greatest(5000000, coalesce(x.principal, 0)), coalesce(x.principal, 0), 0, 0, 'active',
       c.created_at, NULL, NULL, NULL, NULL, 'staff'
FROM customers c
LEFT JOIN (SELECT customer_id, sum(principal - principal_paid) AS principal
           FROM obligations WHERE status = 'open' GROUP BY customer_id) x ON x.customer_id = c.id
ORDER BY c.id
"""

_PROFILES = """
INSERT INTO credit_profiles (customer_id, as_of, features, model_version, pd_bps, grade, updated_at)
SELECT id, at, CAST(:features AS json), 'bench-scorecard', pd, grade, at
FROM (
    SELECT id, (:day - 1)::timestamp AT TIME ZONE 'UTC' AS at, g,
           CASE WHEN g < 0.2 THEN 'A' WHEN g < 0.45 THEN 'B' WHEN g < 0.7 THEN 'C'
                WHEN g < 0.88 THEN 'D' ELSE 'E' END AS grade,
           (50 + g * 1500)::int AS pd
    FROM (SELECT id, bench_u(id, 13) AS g FROM customers WHERE bench_u(id, 12) < 0.7) s
) p
ORDER BY id
"""

_FLAGS = """
INSERT INTO customer_flags (customer_id, kind, order_id, note, opened_at, closed_at)
SELECT c.id, f.kind, CASE WHEN f.kind = 'dispute' AND c.id % 2 = 0 THEN fo.order_id END,
       'bench: ' || f.kind, (:day - 10)::timestamp AT TIME ZONE 'UTC' + interval '3 hours', NULL
FROM customers c
JOIN (VALUES (0, 'cease_contact'), (1, 'dispute'), (2, 'hardship')) f(n, kind)
  ON bench_u(c.id, 15) >= f.n * :flag_share AND bench_u(c.id, 15) < (f.n + 1) * :flag_share
LEFT JOIN (SELECT customer_id, min(id) AS order_id FROM orders GROUP BY customer_id) fo
  ON fo.customer_id = c.id
ORDER BY c.id
"""

# --- the ledger ----------------------------------------------------------------------------------
# Each group of entries is written with its lines in one transaction (a trigger refuses a line
# joining an entry from an earlier transaction, and checks at commit that each entry balances).

_CAPTURE_ENTRIES = """
INSERT INTO journal_entries (id, kind, business_date, memo, reverses, created_at)
SELECT :base + row_number() OVER (ORDER BY captured_on), 'capture', captured_on,
       'bench: orders shipped on ' || captured_on, NULL,
       captured_on::timestamp AT TIME ZONE 'UTC' + interval '20 hours'
FROM (SELECT DISTINCT captured_on FROM bench_order) d
"""

_CAPTURE_LINES = """
INSERT INTO ledger_lines (entry_id, account, amount, customer_id, merchant_id, order_id, obligation_id)
SELECT e.id, x.account, x.amount, x.customer_id, x.merchant_id, x.order_id, x.obligation_id
FROM (
    SELECT o.captured_on AS day, 'customer_principal_receivable' AS account, ob.principal AS amount,
           ob.customer_id, NULL::bigint AS merchant_id, ob.order_id, ob.id AS obligation_id
    FROM obligations ob JOIN bench_order o ON o.i = ob.order_id
    UNION ALL
    SELECT o.captured_on, 'customer_fee_receivable', ob.fee, ob.customer_id, NULL, ob.order_id, ob.id
    FROM obligations ob JOIN bench_order o ON o.i = ob.order_id WHERE ob.fee > 0
    UNION ALL
    SELECT captured_on, 'merchant_payable', -(amount - mdr), NULL, merchant_id, i, NULL FROM bench_order
    UNION ALL
    SELECT captured_on, 'merchant_payable', merchant_fee, NULL, merchant_id, i, NULL
    FROM bench_order WHERE merchant_fee > 0
    UNION ALL
    SELECT captured_on, 'mdr_income', -mdr, NULL, merchant_id, i, NULL FROM bench_order WHERE mdr > 0
    UNION ALL
    SELECT captured_on, 'instalment_fee_income', -fee_total, NULL, NULL, i, NULL
    FROM bench_order WHERE fee_total > 0
) x
JOIN journal_entries e ON e.kind = 'capture' AND e.business_date = x.day
"""

_SETTLEMENT_ENTRIES = """
INSERT INTO journal_entries (id, kind, business_date, memo, reverses, created_at)
SELECT :base + row_number() OVER (ORDER BY day), 'settlement', day,
       'bench: settlements of ' || day, NULL, day::timestamp AT TIME ZONE 'UTC' + interval '21 hours'
FROM (SELECT DISTINCT captured_on + delay AS day FROM bench_order) d
"""

_SETTLEMENT_LINES = """
INSERT INTO ledger_lines (entry_id, account, amount, customer_id, merchant_id, order_id, obligation_id)
SELECT e.id, x.account, x.amount, NULL, x.merchant_id, x.order_id, NULL
FROM (
    SELECT captured_on + delay AS day, 'merchant_payable' AS account, amount - mdr - merchant_fee AS amount,
           merchant_id, i AS order_id
    FROM bench_order
    UNION ALL
    SELECT captured_on + delay, 'cash', -sum(amount - mdr - merchant_fee), NULL, NULL
    FROM bench_order GROUP BY captured_on + delay
) x
JOIN journal_entries e ON e.kind = 'settlement' AND e.business_date = x.day
"""

# A paid instalment was paid on its due date or a day or two before it.
_PAID = """
CREATE UNLOGGED TABLE bench_paid AS
SELECT id, order_id, customer_id, principal, fee, due_date - (id % 3)::int AS paid_on
FROM obligations WHERE status = 'paid'
"""

_REPAYMENT_ENTRIES = """
INSERT INTO journal_entries (id, kind, business_date, memo, reverses, created_at)
SELECT :base + row_number() OVER (ORDER BY paid_on), 'repayment', paid_on, 'api', NULL,
       paid_on::timestamp AT TIME ZONE 'UTC' + interval '12 hours'
FROM (SELECT DISTINCT paid_on FROM bench_paid) d
"""

_REPAYMENT_LINES = """
INSERT INTO ledger_lines (entry_id, account, amount, customer_id, merchant_id, order_id, obligation_id)
SELECT e.id, x.account, x.amount, x.customer_id, NULL, x.order_id, x.obligation_id
FROM (
    SELECT paid_on AS day, 'customer_principal_receivable' AS account, -principal AS amount, customer_id,
           order_id, id AS obligation_id
    FROM bench_paid
    UNION ALL
    SELECT paid_on, 'customer_fee_receivable', -fee, customer_id, order_id, id FROM bench_paid WHERE fee > 0
    UNION ALL
    SELECT paid_on, 'cash', sum(principal + fee), NULL, NULL, NULL FROM bench_paid GROUP BY paid_on
) x
JOIN journal_entries e ON e.kind = 'repayment' AND e.business_date = x.day
"""

_PAYMENTS = """
INSERT INTO payments (customer_id, provider_ref, amount, currency, source, entry_id, business_date,
                      created_at)
SELECT p.customer_id, NULL, sum(p.principal + p.fee), 'CNY', 'api', e.id, p.paid_on, min(e.created_at)
FROM bench_paid p JOIN journal_entries e ON e.kind = 'repayment' AND e.business_date = p.paid_on
GROUP BY p.customer_id, p.paid_on, e.id
ORDER BY p.paid_on, p.customer_id
"""

_SEQUENCES = ("merchants", "customers", "decisions", "orders", "journal_entries")
# Tables loaded in bulk: their secondary indexes (not those of a key or a unique constraint) are
# dropped while loading without triggers, and built again afterwards: a build sorts once, where
# keeping eight indexes on orders up to date row by row took most of its load.
_BULK = ("decisions", "orders", "order_items", "obligations", "ledger_lines", "payments")
_SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS ddl
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(:tables)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1
"""


def _exec(conn: Connection, sql: str, **params: Any) -> int:
    return int(conn.execute(text(sql), params).rowcount or 0)


def _analyze(conn: Connection, *tables: str, key: str | None = None) -> dict[str, int]:
    """Statistics for tables just filled (and a key for a staging table), before they are joined:
    without them the planner guesses a handful of rows and joins by nested loops."""
    if key is not None:
        conn.exec_driver_sql(f"ALTER TABLE {tables[0]} ADD PRIMARY KEY ({key})")
    for table in tables:
        conn.exec_driver_sql(f"ANALYZE {table}")
    return {}


def _coprime_stride(n: int) -> int:
    """A stride that visits every customer once per pass (order i → customer 1 + (i-1)·stride mod n)."""
    stride = 7_919
    while math.gcd(stride, n) != 1:
        stride += 2
    return stride


class _Loader:
    """Runs the parts of the load, each in a transaction of its own, timing them and their slow
    statements; ``fast``: without triggers (``session_replication_role = replica``)."""

    def __init__(self, platform: Platform, params: dict[str, Any], say: Say, fast: bool) -> None:
        self.platform, self.params, self.say, self.fast = platform, params, say, fast
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.indexes: list[Any] = []  # secondary indexes dropped for the load, built again after it

    def run(self, conn: Connection, sql: str, **values: Any) -> int:
        started = time.perf_counter()
        rows = _exec(conn, sql, **(self.params | values))
        took = time.perf_counter() - started
        if took > 1:
            self.say(f"seed:   {sql.strip().splitlines()[0][:60]}: {rows:,} rows, {took:.1f}s")
        return rows

    def part(self, name: str, work: Callable[[Connection], dict[str, int]]) -> None:
        started = time.perf_counter()
        with self.platform.engine.begin() as conn:
            if self.fast:
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            done = work(conn)
        self.counts.update(done)
        self.timings[name] = round(time.perf_counter() - started, 2)
        self.say(f"seed: {name} {self.timings[name]:.1f}s {done}")

    def in_background(self, name: str, work: Callable[[Connection], dict[str, int]]) -> Callable[[], None]:
        """Start a part in a thread (its own connection); returns the join, which re-raises."""
        failed: list[BaseException] = []

        def target() -> None:
            try:
                self.part(name, work)
            except BaseException as error:
                failed.append(error)

        thread = threading.Thread(target=target, name=f"seed-{name}", daemon=True)
        thread.start()

        def join() -> None:
            thread.join()
            if failed:
                raise failed[0]

        return join

    # --- the parts ---

    def parties(self, conn: Connection) -> dict[str, int]:
        conn.exec_driver_sql(_FUNCTIONS)
        return {
            "merchants": self.run(conn, _MERCHANTS),
            "customers": self.run(conn, _CUSTOMERS),
            "classes": self.run(conn, _CUSTOMER_CLASS),
        } | _analyze(conn, "bench_customer", key="id")

    def drop_indexes(self, conn: Connection) -> dict[str, int]:
        self.indexes = conn.execute(text(_SECONDARY_INDEXES), {"tables": list(_BULK)}).all()
        for name, _ in self.indexes:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        return {"indexes_rebuilt": len(self.indexes)}

    def orders(self, conn: Connection) -> dict[str, int]:
        staged = self.run(conn, _ORDERS_STAGED)
        _analyze(conn, "bench_order", key="i")
        late = conn.execute(
            text("SELECT count(*) FROM bench_order WHERE captured_on + delay >= :day"), self.params
        ).scalar_one()
        if late:  # by construction every order is settled before the benchmark date
            raise AssertionError(f"{late} orders would be settled on or after {self.params['day']}")
        return {
            "orders_staged": staged,
            "decisions": self.run(conn, _DECISIONS),
            "orders": self.run(conn, _ORDERS),
            "order_items": self.run(conn, _ITEMS),
            "returns_pending": self.run(conn, _RETURNS),
            "obligations": self.run(conn, _OBLIGATIONS),
        } | _analyze(conn, "obligations", "orders")

    def accounts(self, conn: Connection) -> dict[str, int]:
        return {
            "credit_accounts": self.run(conn, _ACCOUNTS),
            "credit_profiles": self.run(conn, _PROFILES, features=orjson.dumps(NEUTRAL).decode()),
            "customer_flags": self.run(conn, _FLAGS, flag_share=FLAG_SHARE),
        }

    def _entries(self, conn: Connection, sql: str) -> int:
        base = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM journal_entries").scalar_one()
        entries = self.run(conn, sql, base=int(base))
        _analyze(conn, "journal_entries")
        return entries

    def captures(self, conn: Connection) -> dict[str, int]:
        entries = self._entries(conn, _CAPTURE_ENTRIES)
        return {"capture_entries": entries, "capture_lines": self.run(conn, _CAPTURE_LINES)}

    def settlements(self, conn: Connection) -> dict[str, int]:
        entries = self._entries(conn, _SETTLEMENT_ENTRIES)
        return {"settlement_entries": entries, "settlement_lines": self.run(conn, _SETTLEMENT_LINES)}

    def repayments(self, conn: Connection) -> dict[str, int]:
        self.run(conn, _PAID)
        _analyze(conn, "bench_paid")
        entries = self._entries(conn, _REPAYMENT_ENTRIES)
        return {
            "repayment_entries": entries,
            "repayment_lines": self.run(conn, _REPAYMENT_LINES),
            "payments": self.run(conn, _PAYMENTS),
        }

    def finish(self, conn: Connection) -> dict[str, int]:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        for name, ddl in self.indexes:
            started = time.perf_counter()
            conn.exec_driver_sql(ddl)
            self.say(f"seed:   index {name} built in {time.perf_counter() - started:.1f}s")
        for table in _SEQUENCES:
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        for staging in ("bench_paid", "bench_order", "bench_customer"):
            conn.exec_driver_sql(f"DROP TABLE {staging}")
        conn.exec_driver_sql("DROP FUNCTION bench_u(bigint, int)")
        return {}


def seed(
    platform: Platform, obligations: int, customers: int, day: date, say: Say, strict: bool = False
) -> dict[str, Any]:
    """Write the book; returns what was written (row counts) and how long each part took.

    Unless ``strict`` (or the role is not a superuser), each part runs with
    ``session_replication_role = replica``: no trigger fires, neither the foreign-key checks nor the
    ledger's guards, which cost about 25 µs per ledger line (over two minutes for a million
    obligations), and secondary indexes are built after the load rather than kept up to date. The
    book is consistent by construction, every ledger group is written with its entries in one
    transaction as the guards require, and :func:`verify` then checks what the triggers would have:
    every entry balances and has lines, every foreign key resolves."""
    if obligations < OPEN_PER_CYCLE or customers < 10:
        raise ValueError(f"at least {OPEN_PER_CYCLE} obligations and 10 customers")
    cycled = obligations // OPEN_PER_CYCLE * len(CYCLE)
    open_orders = cycled + obligations % OPEN_PER_CYCLE  # the remainder: pay-after-trial orders
    params: dict[str, Any] = {
        "day": day,
        "customers": customers,
        "merchants": MERCHANTS,
        "current": CURRENT_SHARE,
        "open_orders": open_orders,
        "cycled": cycled,
        "orders": open_orders + int(open_orders * HISTORY_SHARE),
        "stride": _coprime_stride(customers),
        "cycle_plans": [p for p, _ in CYCLE],
        "cycle_open": [k for _, k in CYCLE],
        "pending_share": PENDING_RETURN_SHARE,
    }
    with platform.engine.connect() as conn:
        fast = not strict and bool(
            conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar()
        )
    say(f"seed: triggers {'off while loading (then verified)' if fast else 'on'}")
    load = _Loader(platform, params, say, fast)
    started = time.perf_counter()
    load.part("parties", load.parties)
    if fast:
        load.part("drop_indexes", load.drop_indexes)
    load.part("orders", load.orders)
    load.part("accounts", load.accounts)
    # the audit chains are hashed in Python: on the other core, while the ledger is written
    audit_done = load.in_background("audit", lambda conn: {"audit_records": _audit(conn, day)})
    load.part("captures", load.captures)
    load.part("settlements", load.settlements)
    load.part("repayments", load.repayments)
    audit_done()
    load.part("finish", load.finish)
    if fast:
        t0 = time.perf_counter()
        problems = verify(platform)
        load.timings["verify"] = round(time.perf_counter() - t0, 2)
        if problems:
            raise AssertionError(f"the seeded book is inconsistent: {problems}")
        say(f"seed: verified in {load.timings['verify']:.1f}s (entries balance, foreign keys resolve)")
    t0 = time.perf_counter()
    load.counts["agents"] = _agents(platform, customers, day)
    load.timings["agents"] = round(time.perf_counter() - t0, 2)
    return {"seconds": round(time.perf_counter() - started, 2), "parts": load.timings, "rows": load.counts}


def verify(platform: Platform) -> list[str]:
    """What the triggers check, for a book loaded without them: each journal entry balances and
    has lines, and every foreign key resolves (an anti-join per key)."""
    problems = []
    with platform.engine.connect() as conn:
        unbalanced = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT entry_id FROM ledger_lines GROUP BY entry_id "
            "HAVING sum(amount) <> 0) x"
        ).scalar_one()
        empty = conn.exec_driver_sql(
            "SELECT count(*) FROM journal_entries e "
            "WHERE NOT EXISTS (SELECT 1 FROM ledger_lines l WHERE l.entry_id = e.id)"
        ).scalar_one()
        if unbalanced or empty:
            problems.append(f"{unbalanced} unbalanced journal entries, {empty} without lines")
        for table in metadata.sorted_tables:
            for fk in table.foreign_keys:
                child, parent = fk.parent, fk.column
                dangling = conn.exec_driver_sql(
                    f"SELECT count(*) FROM {table.name} c WHERE c.{child.name} IS NOT NULL AND NOT EXISTS "
                    f"(SELECT 1 FROM {parent.table.name} p WHERE p.{parent.name} = c.{child.name})"
                ).scalar_one()
                if dangling:
                    problems.append(
                        f"{dangling} rows of {table.name}.{child.name} name no {parent.table.name}"
                    )
    return problems


# --- audit chains ---------------------------------------------------------------------------------


def _audit(conn: Connection, day: date) -> int:
    """Each customer's stream as the services wrote it, hashes and all (so `bnpl audit verify`
    holds): created; for about a third, one or two earlier overdue episodes in the last year (a
    freeze by the policy and the unfreeze when paid: the third episode blocks the line); then the
    flags set on them. Written with COPY."""
    streams: dict[int, list[tuple[datetime, str, str, str, object, Any, Any]]] = {}
    for cid, name, tz, created, limit in conn.exec_driver_sql(
        "SELECT c.id, c.name, c.timezone, c.created_at, a.credit_limit "
        "FROM customers c JOIN credit_accounts a ON a.customer_id = c.id ORDER BY c.id"
    ):
        view = {
            "id": cid,
            "name": name,
            "timezone": tz,
            "account": {
                "currency": "CNY",
                "limit": limit,
                "outstanding": 0,
                "holds": 0,
                "available": limit,
                "credit_balance": 0,
                "state": "active",
                "own_limit": None,
                "paused_until": None,
            },
        }
        streams[cid] = [(created, "admin", "customer.created", "customer", cid, None, view)]
    # bench_u(id, 14): below 0.25 one earlier episode, below 0.35 two
    for cid, episodes in conn.exec_driver_sql(
        "SELECT id, CASE WHEN bench_u(id, 14) < 0.25 THEN 1 ELSE 2 END FROM customers "
        "WHERE bench_u(id, 14) < 0.35 ORDER BY id"
    ):
        for n in range(episodes):
            frozen = datetime.combine(day - timedelta(days=300 - 120 * n), datetime.min.time(), UTC)
            streams[cid] += [
                (
                    frozen + timedelta(hours=20),
                    "system",
                    "account.frozen",
                    "credit_account",
                    cid,
                    {"state": "active"},
                    {"state": "frozen", "reason": "a bill is 1 days overdue"},
                ),
                (
                    frozen + timedelta(days=9, hours=20),
                    "system",
                    "account.active",
                    "credit_account",
                    cid,
                    {"state": "frozen"},
                    {"state": "active", "reason": "every overdue bill is paid"},
                ),
            ]
    for flag_id, cid, kind, order_id, opened in conn.exec_driver_sql(
        "SELECT id, customer_id, kind, order_id, opened_at FROM customer_flags ORDER BY id"
    ):
        streams[cid].append(
            (opened, "agent", "flag.set", "flag", flag_id, None, {"kind": kind, "order_id": order_id})
        )
    raw = conn.connection.driver_connection
    assert raw is not None
    written = 0
    with raw.cursor() as cur, cur.copy(f"COPY audit_log ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as copy:
        for cid, records in streams.items():
            prev = GENESIS
            for seq, (at, actor, action, entity, entity_id, before, after) in enumerate(records, 1):
                rec: dict[str, Any] = {
                    "stream": f"customer:{cid}",
                    "seq": seq,
                    "at": at,
                    "business_date": at.astimezone(UTC).date(),
                    "actor": actor,
                    "action": action,
                    "entity": entity,
                    "entity_id": str(entity_id),
                    "before": before,
                    "after": after,
                    "prev_hash": prev,
                }
                rec["hash"] = prev = _digest(rec)
                copy.write_row(
                    [
                        orjson.dumps(rec[c]).decode() if c in ("before", "after") and rec[c] else rec[c]
                        for c in AUDIT_COLUMNS
                    ]
                )
                written += 1
    return written


def _agents(platform: Platform, customers: int, day: date) -> int:
    """Collection agents through the service, hired the day before ``day`` (nothing in the book
    may be dated on or after a day end of day runs for): most work one or two buckets, some are
    specialists (vulnerable customers, every bucket), field agents and supervisors."""
    skills = (["M1"], ["M1", "M2"], ["M2", "M3"], ["M3", "M3+"], ["M3+"])
    n = max(10, customers // 5_000)
    staff: list[tuple[str, list[str]]] = []
    for i in range(n):
        if i % 10 < 6:
            staff.append(("agent", skills[i % len(skills)]))
        elif i % 10 < 8:
            staff.append(("specialist", []))
        elif i % 10 == 8:
            staff.append(("field_agent", ["M2", "M3", "M3+"]))
        else:
            staff.append(("supervisor", []))

    def hire(ctx: Any) -> int:
        for i, (role, buckets) in enumerate(staff):
            create_agent(ctx, f"Bench {role} {i + 1}", role, buckets)
        return len(staff)

    clock: Any = platform.clock
    today, clock.day = clock.day, day - timedelta(days=1)
    try:
        return platform.run(ADMIN, hire)
    finally:
        clock.day = today
