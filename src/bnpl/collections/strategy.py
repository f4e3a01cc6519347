"""Dunning strategies and message templates: data, versioned, checked on load.

The full account is in docs/collections.md ("The strategy book")."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from bnpl.domain import delinquency

BUCKETS = ("pre_due", "M1", "M2", "M3", "M3+")
SEGMENTS = ("low", "high", "new")
ACTIONS = ("reminder", "push", "sms", "call", "letter", "email", "field_visit", "agency", "charge_off")
CHANNELS = ("push", "sms", "email", "call", "letter", "field_visit", "none")
TEMPLATE_CHANNELS = ("push", "sms", "email", "call", "letter")
PARTIES = ("customer", "third_party")
PURPOSES = ("reminder", "collect", "locate", "legal_notice")
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
PLACEHOLDERS = ("name", "amount", "due_date", "dpd", "order_id", "hotline", "visit_date")

# Which channel each action goes out on; actions without a message carry no template.
ACTION_CHANNELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "reminder": ("push", "sms"),
        "push": ("push",),
        "sms": ("sms",),
        "call": ("call",),
        "letter": ("letter",),
        "email": ("email",),
        "field_visit": ("field_visit",),
        "agency": ("none",),
        "charge_off": ("none",),
    }
)
NO_TEMPLATE_ACTIONS = frozenset({"field_visit", "agency", "charge_off"})

# Inclusive day ranges; pre_due days count relative to the due date (-3 is three days before).
BUCKET_DAYS: Mapping[str, tuple[int, int | None]] = MappingProxyType(
    {"pre_due": (-7, 0), "M1": (1, 30), "M2": (31, 60), "M3": (61, 90), "M3+": (91, None)}
)
GRADE_SEGMENTS: Mapping[str, str] = MappingProxyType(
    {"A": "low", "B": "low", "C": "low", "D": "high", "E": "high"}
)

# Third-party safety: what a message to a contact person may never contain.
THIRD_PARTY_FORBIDDEN_PLACEHOLDERS = ("amount", "order_id", "due_date", "dpd", "visit_date")
THIRD_PARTY_FORBIDDEN_WORDS = ("debt", "overdue", "owe", "loan", "欠", "逾期", "债", "还款", "贷")
# Substrings catch "debts", "debtor", "loans", "indebted" and the Chinese words anywhere; "owe" is
# matched as a word with its forms, so "however" or "power" stay allowed.
_FORBIDDEN_PATTERNS = tuple(
    (word, re.compile(r"\bow(?:e|es|ed|ing)\b" if word == "owe" else re.escape(word)))
    for word in THIRD_PARTY_FORBIDDEN_WORDS
)

MAX_TEXT = 1_000_000
_FORMATTER = string.Formatter()


class StrategyError(ValueError):
    """Every problem found while loading a strategy book, in one message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid strategy book:\n- " + "\n- ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Step:
    day: int
    action: str
    channel: str
    template: str


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    channel: str
    party: str
    purpose: str
    discloses_debt: bool
    text: Mapping[str, str]


@dataclass(frozen=True)
class StrategyBook:
    version: str
    strategies: Mapping[tuple[str, str], tuple[Step, ...]]
    templates: Mapping[str, Template]

    def steps_for(self, bucket: str, segment: str) -> tuple[Step, ...]:
        """The steps of one pair, ordered by day; "current" has none."""
        _check_segment(segment)
        if bucket == "current":
            return ()
        if bucket not in BUCKETS:
            raise ValueError(f"unknown bucket {bucket!r}; expected current or one of {', '.join(BUCKETS)}")
        return self.strategies.get((bucket, segment), ())

    def due_today(self, dpd: int, segment: str) -> tuple[Step, ...]:
        """Overdue steps that fire on this day past due (none while current)."""
        bucket = bucket_for(dpd)
        return tuple(step for step in self.steps_for(bucket, segment) if step.day == dpd)

    def reminders_due(self, days_to_due: int, segment: str) -> tuple[Step, ...]:
        """Pre-due reminders for a due date ``days_to_due`` days ahead (0 = due today)."""
        return tuple(step for step in self.steps_for("pre_due", segment) if step.day == -days_to_due)

    def render(self, template_id: str, language: str, **values: object) -> str:
        """A template's text in ``language`` (its base language, then zh-CN, when missing), filled
        with ``values``. A placeholder without a value (or with None) is refused, never left blank."""
        template = self.templates.get(template_id)
        if template is None:
            raise KeyError(f"unknown message template {template_id!r}")
        text = template.text.get(language) or template.text.get(language.split("-")[0])
        if text is None:
            text = template.text[DEFAULT_LANGUAGE]
        missing = sorted(name for name in _placeholders(text) if values.get(name) is None)
        if missing:
            needed = ", ".join("{" + name + "}" for name in missing)
            raise ValueError(f"template {template_id!r} needs a value for {needed}")
        return text.format_map(values)


def bucket_for(dpd: int) -> str:
    """The delinquency bucket for days past due; on or before the due date it is "current"."""
    if isinstance(dpd, bool) or not isinstance(dpd, int):
        raise TypeError(f"days past due must be an int, got {dpd!r}")
    return delinquency.bucket_for(dpd)  # the one definition of the buckets


def segment_for(grade: str | None) -> str:
    """The risk segment for a credit grade: A-C low, D-E high, no grade (thin file) new."""
    if grade is None or grade == "":
        return "new"
    segment = GRADE_SEGMENTS.get(grade) if isinstance(grade, str) else None
    if segment is None:
        raise ValueError(f"unknown credit grade {grade!r}; expected A-E or none")
    return segment


def load_book(
    strategies_path: str | Path | None = None, templates_path: str | Path | None = None
) -> StrategyBook:
    """Load and check a strategy book; None means the files shipped with the package."""
    problems: list[str] = []
    strategies_doc = _read_yaml(strategies_path, "strategies.yaml", problems)
    templates_doc = _read_yaml(templates_path, "templates.yaml", problems)
    templates = _parse_templates(templates_doc, problems) if templates_doc is not None else None
    version, strategies = "", dict[tuple[str, str], tuple[Step, ...]]()
    if strategies_doc is not None:
        version, strategies = _parse_strategies(strategies_doc, templates, problems)
    if problems:
        raise StrategyError(problems)
    assert templates is not None
    return StrategyBook(version, MappingProxyType(strategies), MappingProxyType(templates))


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases (a few nested aliases can expand into gigabytes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed here", mark)
        return super().compose_node(parent, index)


def _read_yaml(path: str | Path | None, default_name: str, problems: list[str]) -> dict[str, Any] | None:
    name = default_name if path is None else str(path)
    try:
        if path is None:
            text = resources.files("bnpl.collections").joinpath(default_name).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(f"{name}: cannot read: {exc.strerror or exc}")
        return None
    if len(text) > MAX_TEXT:
        problems.append(f"{name}: at most {MAX_TEXT} characters")
        return None
    try:
        doc = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader without aliases
    except (yaml.YAMLError, ValueError) as exc:
        problems.append(f"{name}: not valid YAML: {str(exc).splitlines()[0]}")
        return None
    if not isinstance(doc, dict):
        problems.append(f"{name}: must be a mapping")
        return None
    return doc


def _parse_templates(doc: dict[str, Any], problems: list[str]) -> dict[str, Template] | None:
    extra = set(doc) - {"version", "templates"}
    if extra:
        problems.append(f"templates: unknown top-level keys {', '.join(sorted(map(str, extra)))}")
    raw_templates = doc.get("templates")
    if not isinstance(raw_templates, dict) or not raw_templates:
        problems.append("templates: 'templates' must be a non-empty mapping of id to template")
        return None
    templates: dict[str, Template] = {}
    for template_id, raw in raw_templates.items():
        template = _parse_template(str(template_id), raw, problems)
        if template is not None:
            templates[template.id] = template
    return templates


def _parse_template(template_id: str, raw: Any, problems: list[str]) -> Template | None:
    where = f"template {template_id!r}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    before = len(problems)
    extra = set(raw) - {"channel", "party", "purpose", "discloses_debt", "text"}
    if extra:
        problems.append(f"{where}: unknown keys {', '.join(sorted(map(str, extra)))}")
    channel, party, purpose = raw.get("channel"), raw.get("party"), raw.get("purpose")
    discloses = raw.get("discloses_debt")
    if channel not in TEMPLATE_CHANNELS:
        problems.append(
            f"{where}: unknown channel {channel!r}; expected one of {', '.join(TEMPLATE_CHANNELS)}"
        )
    if party not in PARTIES:
        problems.append(f"{where}: unknown party {party!r}; expected customer or third_party")
    if purpose not in PURPOSES:
        problems.append(f"{where}: unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    if not isinstance(discloses, bool):
        problems.append(f"{where}: 'discloses_debt' must be true or false")
    text = _parse_texts(where, raw.get("text"), problems)
    if party == "third_party":
        raw_text = raw.get("text")
        _check_third_party(
            where, purpose, discloses, raw_text if isinstance(raw_text, dict) else {}, problems
        )
    elif party == "customer":
        if purpose == "locate":
            problems.append(f"{where}: purpose 'locate' is for third-party templates only")
        if purpose in ("collect", "legal_notice") and discloses is not True:
            problems.append(f"{where}: a customer {purpose} template must have discloses_debt true")
    if len(problems) > before:
        return None
    return Template(
        template_id, str(channel), str(party), str(purpose), bool(discloses), MappingProxyType(text)
    )


def _parse_texts(where: str, raw: Any, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, dict):
        problems.append(f"{where}: 'text' must map languages ({', '.join(LANGUAGES)}) to text")
        return {}
    texts: dict[str, str] = {}
    for language, text in raw.items():
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: text {language!r} must be non-empty text")
            continue
        try:
            names = _placeholders(text)
        except ValueError as exc:
            problems.append(f"{where}: text {language!r} is not a valid template: {exc}")
            continue
        for name in sorted(names - set(PLACEHOLDERS)):
            problems.append(
                f"{where}: text {language!r} uses unknown placeholder {{{name}}}; "
                f"expected {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
        texts[str(language)] = text
    for language in LANGUAGES:
        if language not in raw:
            problems.append(f"{where}: missing {language!r} text")
    # Every language must say the same thing: a translation that drops {amount} is a bug.
    fields = {language: _placeholders(text) for language, text in texts.items()}
    if len({frozenset(names) for names in fields.values()}) > 1:
        listed = "; ".join(f"{lang}: {', '.join(sorted(names)) or '-'}" for lang, names in fields.items())
        problems.append(f"{where}: languages use different placeholders ({listed})")
    return texts


def _check_third_party(
    where: str, purpose: Any, discloses: Any, texts: Mapping[Any, Any], problems: list[str]
) -> None:
    """A contact person may only be asked to pass on a request to call back: no debt, ever.
    Checks every text given, even one rejected for other reasons, so one pass lists it all."""
    if discloses is not False:
        problems.append(f"{where}: a third-party template must have discloses_debt false")
    if purpose != "locate":
        problems.append(f"{where}: a third-party template must have purpose 'locate', not {purpose!r}")
    for language, text in texts.items():
        if not isinstance(text, str):
            continue
        for name in THIRD_PARTY_FORBIDDEN_PLACEHOLDERS:
            if re.search(r"\{\s*" + name + r"\b", text):
                problems.append(f"{where}: third-party text {language!r} must not contain {{{name}}}")
        folded = unicodedata.normalize("NFKC", text).casefold()  # also catches full-width letters
        for word, pattern in _FORBIDDEN_PATTERNS:
            if pattern.search(folded):
                problems.append(f"{where}: third-party text {language!r} must not contain {word!r}")


def _parse_strategies(
    doc: dict[str, Any], templates: Mapping[str, Template] | None, problems: list[str]
) -> tuple[str, dict[tuple[str, str], tuple[Step, ...]]]:
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        problems.append("strategies: 'version' must be a non-empty string")
        version = ""
    extra = set(doc) - {"version", "strategies"}
    if extra:
        problems.append(f"strategies: unknown top-level keys {', '.join(sorted(map(str, extra)))}")
    raw = doc.get("strategies")
    if not isinstance(raw, dict):
        problems.append("strategies: 'strategies' must map bucket -> segment -> list of steps")
        return version, {}
    strategies: dict[tuple[str, str], tuple[Step, ...]] = {}
    for bucket, by_segment in raw.items():
        if bucket not in BUCKETS:
            problems.append(f"strategies: unknown bucket {bucket!r}; expected one of {', '.join(BUCKETS)}")
            continue
        if not isinstance(by_segment, dict):
            problems.append(f"strategies {bucket}: must map segment to a list of steps")
            continue
        for segment, raw_steps in by_segment.items():
            if segment not in SEGMENTS:
                problems.append(
                    f"strategies {bucket}: unknown segment {segment!r}; expected one of {', '.join(SEGMENTS)}"
                )
                continue
            steps = _parse_steps(f"strategy {bucket}/{segment}", bucket, raw_steps, templates, problems)
            strategies[(bucket, segment)] = tuple(sorted(steps, key=lambda step: step.day))
    for bucket in BUCKETS:
        for segment in SEGMENTS:
            if (bucket, segment) not in strategies and isinstance(raw.get(bucket, {}), dict):
                problems.append(f"strategies: missing {bucket}/{segment}")
    return version, strategies


def _parse_steps(
    where: str, bucket: str, raw_steps: Any, templates: Mapping[str, Template] | None, problems: list[str]
) -> list[Step]:
    if not isinstance(raw_steps, list):  # an empty list is allowed: no actions for this pair
        problems.append(f"{where}: must be a list of steps ([] for none)")
        return []
    steps: list[Step] = []
    seen: set[tuple[int, str, str]] = set()
    for n, raw in enumerate(raw_steps, start=1):
        step = _parse_step(f"{where} step {n}", bucket, raw, templates, problems)
        if step is None:
            continue
        key = (step.day, step.action, step.channel)
        if key in seen:
            problems.append(f"{where} step {n}: duplicate {step.action} by {step.channel} on day {step.day}")
        seen.add(key)
        steps.append(step)
    return steps


def _parse_step(
    where: str, bucket: str, raw: Any, templates: Mapping[str, Template] | None, problems: list[str]
) -> Step | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with day, action, channel, template")
        return None
    before = len(problems)
    extra = set(raw) - {"day", "action", "channel", "template"}
    if extra:
        problems.append(f"{where}: unknown keys {', '.join(sorted(map(str, extra)))}")
    action, channel = raw.get("action"), raw.get("channel")
    template_id = raw.get("template") or ""
    day: Any = raw.get("day")
    if isinstance(day, bool) or not isinstance(day, int):
        problems.append(f"{where}: 'day' must be a whole number")
    else:
        where = f"{where} (day {day})"
        low, high = BUCKET_DAYS[bucket]
        if day < low or (high is not None and day > high):
            span = f"{low}..{high}" if high is not None else f">= {low}"
            problems.append(f"{where}: day {day} is outside bucket {bucket} ({span})")
    if action not in ACTIONS:
        problems.append(f"{where}: unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    if channel not in CHANNELS:
        problems.append(f"{where}: unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
    elif action in ACTIONS and channel not in ACTION_CHANNELS[action]:
        allowed = " or ".join(ACTION_CHANNELS[action])
        problems.append(f"{where}: action {action} goes out on {allowed}, not {channel}")
    if action in ACTIONS and (action == "reminder") != (bucket == "pre_due"):
        problems.append(f"{where}: reminders go in pre_due, and pre_due holds only reminders")
    if not isinstance(template_id, str):
        problems.append(f"{where}: 'template' must be a template id")
    elif action in NO_TEMPLATE_ACTIONS:
        if template_id:
            problems.append(f"{where}: action {action} sends no message and takes no template")
    elif action in ACTIONS:
        _check_step_template(where, str(action), channel, template_id, templates, problems)
    if len(problems) > before:
        return None
    return Step(day, str(action), str(channel), template_id)


def _check_step_template(
    where: str,
    action: str,
    channel: Any,
    template_id: str,
    templates: Mapping[str, Template] | None,
    problems: list[str],
) -> None:
    if not template_id:
        problems.append(f"{where}: action {action} needs a template")
        return
    if templates is None:  # the templates file failed to load; its problems are reported already
        return
    template = templates.get(template_id)
    if template is None:
        problems.append(f"{where}: template {template_id!r} is not in the templates (or is invalid)")
        return
    if template.channel != channel:
        problems.append(f"{where}: template {template_id!r} is for {template.channel}, not {channel}")
    if template.party != "customer":
        problems.append(f"{where}: template {template_id!r} is for a third party; steps address the customer")
    elif (action == "reminder") != (template.purpose == "reminder"):
        problems.append(f"{where}: template {template_id!r} has purpose {template.purpose} for a {action}")


def _placeholders(text: str) -> set[str]:
    """Field names in a format string; only plain names are allowed (no attributes, indexes or
    nested fields: a template must not reach into the objects it is given)."""
    names: set[str] = set()
    for _, field, spec, _ in _FORMATTER.parse(text):
        if field is None:
            continue
        if not field.isidentifier():
            raise ValueError(f"{{{field}}} is not a plain placeholder name")
        if spec and "{" in spec:
            raise ValueError(f"{{{field}}} has a nested placeholder in its format")
        names.add(field)
    return names


def _check_segment(segment: str) -> None:
    if segment not in SEGMENTS:
        raise ValueError(f"unknown segment {segment!r}; expected one of {', '.join(SEGMENTS)}")
