"""Strategy books: buckets and segments, the packaged book, rendering, and every problem reported
on load, third-party safety first."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnpl.collections.strategy import (
    ACTIONS,
    BUCKETS,
    SEGMENTS,
    Step,
    StrategyBook,
    StrategyError,
    bucket_for,
    load_book,
    segment_for,
)

TEMPLATES = """
templates:
  reminder_sms:
    channel: sms
    party: customer
    purpose: reminder
    discloses_debt: true
    text:
      zh-CN: "{name}您好，订单{order_id}应付{amount}，还款日{due_date}。"
      en: "Hi {name}, {amount} for order {order_id} is due on {due_date}."
  collect_sms:
    channel: sms
    party: customer
    purpose: collect
    discloses_debt: true
    text:
      zh-CN: "{name}您好，{amount}已逾期{dpd}天，请致电{hotline}。"
      en: "Hi {name}, {amount} is {dpd} days past due; please call {hotline}."
  collect_call:
    channel: call
    party: customer
    purpose: collect
    discloses_debt: true
    text: {zh-CN: "请问是{name}本人吗？", en: "Am I speaking with {name}?"}
  locate_sms:
    channel: sms
    party: third_party
    purpose: locate
    discloses_debt: false
    text:
      zh-CN: "您好，请转告{name}回电{hotline}，谢谢。"
      en: "Hello, please ask {name} to call us back on {hotline}. However busy, thank you!"
"""

FIRST_DAY = {"pre_due": -1, "M1": 1, "M2": 31, "M3": 61, "M3+": 91}


def strategies_yaml(overrides: dict[tuple[str, str], str] | None = None, version: str = "test-1") -> str:
    """A complete book (one step per pair) with some pairs replaced by YAML flow lists."""
    overrides = overrides or {}
    lines = [f"version: {version}", "strategies:"]
    for bucket in BUCKETS:
        lines.append(f"  {bucket}:")
        for segment in SEGMENTS:
            day = FIRST_DAY[bucket]
            default = (
                f"[{{day: {day}, action: reminder, channel: sms, template: reminder_sms}}]"
                if bucket == "pre_due"
                else f"[{{day: {day}, action: call, channel: call, template: collect_call}}]"
            )
            lines.append(f"    {segment}: {overrides.get((bucket, segment), default)}")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, strategies: str, templates: str = TEMPLATES) -> tuple[Path, Path]:
    s, t = tmp_path / "strategies.yaml", tmp_path / "templates.yaml"
    s.write_text(strategies, encoding="utf-8")
    t.write_text(templates, encoding="utf-8")
    return s, t


def problems_of(tmp_path: Path, strategies: str, templates: str = TEMPLATES) -> str:
    with pytest.raises(StrategyError) as caught:
        load_book(*write(tmp_path, strategies, templates))
    return str(caught.value)


def with_locate(**fields: str) -> str:
    """TEMPLATES with locate_sms's text or flags replaced."""
    text = TEMPLATES
    for old, new in fields.items():
        original = {
            "zh": '"您好，请转告{name}回电{hotline}，谢谢。"',
            "en": '"Hello, please ask {name} to call us back on {hotline}. However busy, thank you!"',
            "discloses": "discloses_debt: false",
            "purpose": "purpose: locate",
        }[old]
        assert text.count(original) == 1
        text = text.replace(original, new)
    return text


# --- buckets and segments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (-3, "current"),
        (0, "current"),
        (1, "M1"),
        (30, "M1"),
        (31, "M2"),
        (60, "M2"),
        (61, "M3"),
        (90, "M3"),
        (91, "M3+"),
        (400, "M3+"),
    ],
)
def test_bucket_for_edges(dpd: int, bucket: str) -> None:
    assert bucket_for(dpd) == bucket


@pytest.mark.parametrize("bad", [True, 1.5, "3", None])
def test_bucket_for_wants_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="days past due"):
        bucket_for(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("grade", "segment"),
    [("A", "low"), ("B", "low"), ("C", "low"), ("D", "high"), ("E", "high"), (None, "new"), ("", "new")],
)
def test_segment_for(grade: str | None, segment: str) -> None:
    assert segment_for(grade) == segment


@pytest.mark.parametrize("bad", ["F", "a", "AB", " A", "new", 3])
def test_segment_for_refuses_unknown_grades(bad: object) -> None:
    with pytest.raises(ValueError, match="unknown credit grade"):
        segment_for(bad)  # type: ignore[arg-type]


# --- the packaged book ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def book() -> StrategyBook:
    return load_book()


def test_the_packaged_book_loads_with_every_pair(book: StrategyBook) -> None:
    assert book.version == "default-2026-11-25"
    assert set(book.strategies) == {(b, s) for b in BUCKETS for s in SEGMENTS}
    assert len(book.strategies) == 15
    for steps in book.strategies.values():
        assert steps and [step.day for step in steps] == sorted(step.day for step in steps)
        assert all(step.action in ACTIONS for step in steps)


def test_the_packaged_book_follows_the_plan(book: StrategyBook) -> None:
    for segment in SEGMENTS:
        assert [(s.day, s.channel) for s in book.steps_for("pre_due", segment)] == [
            (-3, "push"),
            (-1, "sms"),
            (0, "push"),
        ]
        assert [(s.day, s.action) for s in book.steps_for("M3+", segment)] == [
            (91, "agency"),
            (120, "letter"),
            (180, "charge_off"),
        ]
        assert book.steps_for("M3+", segment)[1].template == "legal_notice_letter"
        assert Step(61, "field_visit", "field_visit", "") in book.steps_for("M3", segment)
    assert [(s.day, s.action) for s in book.steps_for("M1", "low")] == [
        (1, "push"),
        (3, "sms"),
        (7, "call"),
        (15, "sms"),
        (25, "call"),
    ]
    assert [s.day for s in book.steps_for("M1", "high")] == [1, 2, 5, 10, 20]
    field_visits = {seg for seg in SEGMENTS for s in book.steps_for("M2", seg) if s.action == "field_visit"}
    assert field_visits == {"high", "new"}


def test_the_packaged_third_party_templates_are_locate_only(book: StrategyBook) -> None:
    third = {t.id: t for t in book.templates.values() if t.party == "third_party"}
    assert set(third) == {"locate_sms", "locate_call"}
    assert all(t.purpose == "locate" and not t.discloses_debt for t in third.values())
    used = {s.template for steps in book.strategies.values() for s in steps}
    assert not used & set(third)  # strategy steps only ever address the customer


def test_due_today_picks_the_steps_of_that_day(book: StrategyBook) -> None:
    assert book.due_today(7, "low") == (Step(7, "call", "call", "collect_call"),)
    assert book.due_today(8, "low") == ()
    assert book.due_today(0, "low") == ()
    assert book.due_today(-2, "high") == ()
    assert {s.action for s in book.due_today(61, "new")} == {"call", "field_visit"}
    assert [s.action for s in book.due_today(91, "high")] == ["agency"]
    assert [s.action for s in book.due_today(180, "low")] == ["charge_off"]
    assert [s.action for s in book.due_today(45, "high")] == ["field_visit"]


def test_reminders_due_counts_days_before_the_due_date(book: StrategyBook) -> None:
    assert book.reminders_due(3, "new") == (Step(-3, "reminder", "push", "reminder_push"),)
    assert book.reminders_due(1, "low") == (Step(-1, "reminder", "sms", "reminder_sms"),)
    assert book.reminders_due(0, "high") == (Step(0, "reminder", "push", "reminder_push"),)
    assert book.reminders_due(2, "low") == ()
    assert book.reminders_due(-1, "low") == ()


def test_steps_for_current_is_empty_and_unknown_names_are_refused(book: StrategyBook) -> None:
    assert book.steps_for("current", "low") == ()
    with pytest.raises(ValueError, match="unknown segment 'vip'"):
        book.due_today(5, "vip")
    with pytest.raises(ValueError, match="unknown bucket 'M4'"):
        book.steps_for("M4", "low")


def test_the_book_cannot_be_changed(book: StrategyBook) -> None:
    with pytest.raises(TypeError):
        book.strategies[("M1", "low")] = ()  # type: ignore[index]
    with pytest.raises(TypeError):
        book.templates["collect_sms"].text["en"] = "pay now"  # type: ignore[index]


# --- rendering --------------------------------------------------------------------------------------

VALUES = {"name": "王芳", "amount": "¥123.45", "order_id": "O-88", "dpd": 12, "hotline": "400-800-1234"}


def test_render_fills_both_languages(book: StrategyBook) -> None:
    zh = book.render("collect_sms", "zh-CN", **VALUES)
    en = book.render("collect_sms", "en", **VALUES)
    assert "王芳" in zh and "¥123.45" in zh and "12天" in zh and "400-800-1234" in zh
    assert en.startswith("Hi 王芳,") and "12 days past due" in en and "O-88" in en
    assert "{" not in zh + en


def test_render_falls_back_to_the_base_language_then_zh_cn(book: StrategyBook) -> None:
    values = {"name": "Li", "hotline": "400"}
    assert book.render("locate_sms", "fr", **values) == book.render("locate_sms", "zh-CN", **values)
    assert book.render("locate_sms", "en-GB", **values) == book.render("locate_sms", "en", **values)


def test_render_names_every_missing_placeholder(book: StrategyBook) -> None:
    with pytest.raises(ValueError, match=r"collect_sms.*\{amount\}, \{dpd\}"):
        book.render("collect_sms", "en", name="Li", order_id="O-1", hotline="400")
    with pytest.raises(ValueError, match=r"\{amount\}"):
        book.render("collect_sms", "en", **{**VALUES, "amount": None})


def test_render_refuses_an_unknown_template(book: StrategyBook) -> None:
    with pytest.raises(KeyError, match="unknown message template 'collect_fax'"):
        book.render("collect_fax", "en", **VALUES)


# --- load problems ----------------------------------------------------------------------------------


def test_a_small_good_book_loads(tmp_path: Path) -> None:
    book = load_book(*write(tmp_path, strategies_yaml(version="v9")))
    assert book.version == "v9" and len(book.strategies) == 15
    assert book.templates["locate_sms"].party == "third_party"


def test_load_reports_every_problem_at_once(tmp_path: Path) -> None:
    strategies = strategies_yaml(
        {
            ("M1", "low"): "[{day: 3, action: shout, channel: sms, template: collect_sms},"
            " {day: 5, action: sms, channel: pigeon, template: collect_sms},"
            " {day: 7, action: sms, channel: sms, template: collect_telegram}]",
        }
    ).replace("    new: [{day: 31,", "    newbie: [{day: 31,")
    strategies += "  M4:\n    low: []\n"
    templates = TEMPLATES.replace('en: "Am I speaking with {name}?"', "")
    message = problems_of(tmp_path, strategies, templates)
    for expected in [
        "unknown action 'shout'",
        "unknown channel 'pigeon'",
        "template 'collect_telegram' is not in the templates",
        "unknown segment 'newbie'",
        "unknown bucket 'M4'",
        "missing M2/new",
        "template 'collect_call': missing 'en' text",
    ]:
        assert expected in message


def test_every_problem_is_listed_on_the_exception(tmp_path: Path) -> None:
    strategies = strategies_yaml({("M2", "low"): "[{day: 20, action: call, channel: call, template: x}]"})
    s, t = write(tmp_path, strategies.replace("version: test-1", "version: ''"))
    with pytest.raises(StrategyError) as caught:
        load_book(s, t)
    assert len(caught.value.problems) == 3  # version, day out of range, unknown template
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"zh": '"您好，{name}已逾期，请回电{hotline}。"'},
            "third-party text 'zh-CN' must not contain '逾期'",
        ),
        ({"zh": '"请转告{name}尽快还款，回电{hotline}。"'}, "must not contain '还款'"),
        ({"zh": '"请转告{name}处理欠款，回电{hotline}。"'}, "must not contain '欠'"),
        (
            {"en": '"Please tell {name} about {amount}; call {hotline}."'},
            "third-party text 'en' must not contain {amount}",
        ),
        (
            {"en": '"Please tell {name} that order {order_id} waits; call {hotline}."'},
            "must not contain {order_id}",
        ),
        ({"en": '"{name} OWES us; call {hotline}."'}, "must not contain 'owe'"),
        ({"en": '"{name} has a LOAN with us; call {hotline}."'}, "must not contain 'loan'"),
        ({"en": '"Ask {name} about the ｄｅｂｔ; call {hotline}."'}, "must not contain 'debt'"),
        ({"en": '"{name} is Overdue; call {hotline}."'}, "must not contain 'overdue'"),
        ({"discloses": "discloses_debt: true"}, "a third-party template must have discloses_debt false"),
        ({"purpose": "purpose: collect"}, "a third-party template must have purpose 'locate'"),
    ],
)
def test_an_unsafe_third_party_template_is_refused(
    tmp_path: Path, change: dict[str, str], expected: str
) -> None:
    assert expected in problems_of(tmp_path, strategies_yaml(), with_locate(**change))


def test_a_third_party_template_with_several_leaks_lists_each(tmp_path: Path) -> None:
    templates = with_locate(zh='"{name}贷款逾期{dpd}天，请回电{hotline}。"', discloses="discloses_debt: true")
    message = problems_of(tmp_path, strategies_yaml(), templates)
    for expected in ["{dpd}", "'贷'", "'逾期'", "discloses_debt false"]:
        assert expected in message


def test_a_customer_collect_template_must_disclose(tmp_path: Path) -> None:
    templates = TEMPLATES.replace(
        'purpose: collect\n    discloses_debt: true\n    text:\n      zh-CN: "{name}您好，{amount}',
        'purpose: collect\n    discloses_debt: false\n    text:\n      zh-CN: "{name}您好，{amount}',
    )
    assert templates != TEMPLATES
    message = problems_of(tmp_path, strategies_yaml(), templates)
    assert "template 'collect_sms': a customer collect template must have discloses_debt true" in message


def test_a_step_using_a_template_of_another_channel_is_refused(tmp_path: Path) -> None:
    strategies = strategies_yaml(
        {("M1", "high"): "[{day: 2, action: call, channel: call, template: collect_sms}]"}
    )
    message = problems_of(tmp_path, strategies)
    assert "strategy M1/high step 1 (day 2): template 'collect_sms' is for sms, not call" in message


def test_an_action_on_the_wrong_channel_is_refused(tmp_path: Path) -> None:
    strategies = strategies_yaml({("M3+", "low"): "[{day: 91, action: agency, channel: sms, template: ''}]"})
    assert "action agency goes out on none, not sms" in problems_of(tmp_path, strategies)


def test_a_step_may_not_address_a_third_party(tmp_path: Path) -> None:
    strategies = strategies_yaml(
        {("M2", "new"): "[{day: 40, action: sms, channel: sms, template: locate_sms}]"}
    )
    assert "is for a third party" in problems_of(tmp_path, strategies)


@pytest.mark.parametrize(
    ("bucket", "step", "expected"),
    [
        (
            "pre_due",
            "{day: 1, action: reminder, channel: sms, template: reminder_sms}",
            "outside bucket pre_due (-7..0)",
        ),
        ("pre_due", "{day: -8, action: reminder, channel: sms, template: reminder_sms}", "day -8 is outside"),
        ("M1", "{day: 31, action: sms, channel: sms, template: collect_sms}", "outside bucket M1 (1..30)"),
        ("M1", "{day: 0, action: sms, channel: sms, template: collect_sms}", "day 0 is outside bucket M1"),
        (
            "M2",
            "{day: 30, action: call, channel: call, template: collect_call}",
            "outside bucket M2 (31..60)",
        ),
        (
            "M3",
            "{day: 91, action: call, channel: call, template: collect_call}",
            "outside bucket M3 (61..90)",
        ),
        ("M3+", "{day: 90, action: agency, channel: none, template: ''}", "outside bucket M3+ (>= 91)"),
    ],
)
def test_a_step_outside_its_bucket_is_refused(tmp_path: Path, bucket: str, step: str, expected: str) -> None:
    assert expected in problems_of(tmp_path, strategies_yaml({(bucket, "low"): f"[{step}]"}))


def test_a_step_needs_a_whole_day(tmp_path: Path) -> None:
    strategies = strategies_yaml(
        {
            ("pre_due", "low"): "[{action: reminder, channel: sms, template: reminder_sms}]",
            ("M1", "new"): "[{day: 2.5, action: sms, channel: sms, template: collect_sms}]",
        }
    )
    message = problems_of(tmp_path, strategies)
    assert "strategy pre_due/low step 1: 'day' must be a whole number" in message
    assert "strategy M1/new step 1: 'day' must be a whole number" in message


def test_steps_that_send_nothing_take_no_template_and_messages_need_one(tmp_path: Path) -> None:
    strategies = strategies_yaml(
        {
            ("M3", "low"): "[{day: 61, action: field_visit, channel: field_visit, template: collect_call}]",
            ("M3", "high"): "[{day: 62, action: call, channel: call}]",
        }
    )
    message = problems_of(tmp_path, strategies)
    assert "action field_visit sends no message and takes no template" in message
    assert "action call needs a template" in message


def test_reminders_belong_before_the_due_date(tmp_path: Path) -> None:
    strategies = strategies_yaml(
        {
            ("M1", "low"): "[{day: 2, action: reminder, channel: sms, template: reminder_sms}]",
            ("pre_due", "new"): "[{day: -2, action: sms, channel: sms, template: collect_sms}]",
        }
    )
    message = problems_of(tmp_path, strategies)
    assert "strategy M1/low step 1 (day 2): reminders go in pre_due" in message
    assert "strategy pre_due/new step 1 (day -2): reminders go in pre_due" in message


def test_translations_must_use_the_same_known_placeholders(tmp_path: Path) -> None:
    templates = TEMPLATES.replace(
        'en: "Hi {name}, {amount} is {dpd} days past due; please call {hotline}."',
        'en: "Hi {name}, {amout} is past due; please call {hotline}."',
    )
    message = problems_of(tmp_path, strategies_yaml(), templates)
    assert "template 'collect_sms': text 'en' uses unknown placeholder {amout}" in message
    assert "template 'collect_sms': languages use different placeholders" in message


def test_placeholders_may_not_reach_into_objects(tmp_path: Path) -> None:
    templates = TEMPLATES.replace('"Am I speaking with {name}?"', '"Am I speaking with {name.__class__}?"')
    assert "is not a plain placeholder name" in problems_of(tmp_path, strategies_yaml(), templates)


def test_unreadable_or_malformed_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(StrategyError, match="cannot read"):
        load_book(tmp_path / "absent.yaml", tmp_path / "absent-too.yaml")
    message = problems_of(tmp_path, "version: [unclosed\n", "templates: &t {a: *t}\n")
    assert "strategies.yaml: not valid YAML" in message
    assert "templates.yaml: not valid YAML: aliases are not allowed" in message
