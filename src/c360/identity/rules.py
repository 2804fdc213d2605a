"""Merge rules: identifier types, their priorities and limits, and the values never linked.

The defaults can be changed per installation through the environment:
C360_IDENTITY_BLOCKED (comma-separated values added to the blocked list) and
C360_IDENTITY_LIMITS (e.g. "email=3,phone=2"; 0 removes a type's limit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from c360.config import as_list, get_from_env

# Highest priority first: the anchor of a person is its identifier of the earliest type here.
PRIORITY = (
    "customer_id",
    "user_id",
    "email",
    "phone",
    "device_id",
    "anonymous_id",
    "session_id",
)

# Readable names, singular and plural, for explanations and reasons.
LABELS = {
    "customer_id": ("customer id", "customer ids"),
    "user_id": ("user id", "user ids"),
    "email": ("e-mail", "e-mail addresses"),
    "phone": ("phone", "phone numbers"),
    "device_id": ("device id", "device ids"),
    "anonymous_id": ("anonymous id", "anonymous ids"),
    "session_id": ("session id", "session ids"),
}

DEFAULT_LIMITS = {
    "customer_id": 1,
    "user_id": 1,
    "email": 5,
    "phone": 5,
    "device_id": 50,
    "anonymous_id": 50,
    "session_id": 500,
}

# Written where a value is missing; treated as no value at all, so never stored.
NULL_TOKENS = ("", "null", "none", "nil", "nan", "n/a", "undefined")

DEFAULT_BLOCKED = (*NULL_TOKENS, "anonymous", "unknown", "test", "-1", "test@example.com")


def label(id_type: str, *, plural: bool = False) -> str:
    singular, many = LABELS.get(id_type, (id_type.replace("_", " "), id_type.replace("_", " ")))
    return many if plural else singular


def rank(id_type: str) -> int:
    """1 for the highest priority; custom types come after the built-in ones."""
    return PRIORITY.index(id_type) + 1 if id_type in PRIORITY else len(PRIORITY) + 1


def _limits(value: str) -> dict[str, int]:
    limits = dict(DEFAULT_LIMITS)
    for item in as_list(value):
        id_type, sep, number = item.partition("=")
        if not sep or not number.strip().isdigit():
            raise ValueError(f"expected id_type=number, got {item!r}")
        limit = int(number)
        if limit == 0:
            limits.pop(id_type.strip(), None)
        else:
            limits[id_type.strip()] = limit
    return limits


@dataclass(frozen=True)
class MergeRules:
    blocked: tuple[str, ...] = DEFAULT_BLOCKED
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    # the default region's calling code, so "+31000000000" counts as all zeros
    phone_country_code: str = "31"

    @classmethod
    def from_settings(cls) -> MergeRules:
        from c360.identity.normalise import phone_region

        extra: list[str] = get_from_env("C360_IDENTITY_BLOCKED", [], as_list)
        return cls(
            blocked=tuple(dict.fromkeys([*DEFAULT_BLOCKED, *(v.lower() for v in extra)])),
            limits=get_from_env("C360_IDENTITY_LIMITS", dict(DEFAULT_LIMITS), _limits),
            phone_country_code=phone_region().country_code,
        )
