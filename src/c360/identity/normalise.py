"""Identifier normalisation, vectorised with pyarrow.compute (no Python loop per value)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from c360.identity.rules import NULL_TOKENS


@dataclass(frozen=True)
class PhoneRegion:
    region: str
    country_code: str  # "31"
    national_prefix: str  # "0": dropped when a number is written the national way
    # lengths of a mobile number without country code: "31612345678" is 2 + 9, so it already
    # carries the country code, while "612345678" does not
    mobile_lengths: tuple[int, ...]


@cache
def _region(region: str) -> PhoneRegion:
    import phonenumbers

    from c360.config import ConfigError

    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None:
        raise ConfigError(f"C360_PHONE_REGION={region!r} is not a known region code such as NL")
    described = metadata.mobile or metadata.general_desc
    lengths = (described.possible_length if described else None) or (9,)
    return PhoneRegion(
        region=region.upper(),
        country_code=str(metadata.country_code),
        national_prefix=metadata.national_prefix or "",
        mobile_lengths=tuple(lengths),
    )


def phone_region(region: str | None = None) -> PhoneRegion:
    """The given region, else the installation's default (settings.C360.phone_default_region)."""
    if region is None:
        from c360.config import load

        try:
            from django.conf import settings

            region = settings.C360.phone_default_region
        except Exception:  # Django not configured (a script): read the environment directly
            region = load().phone_default_region
    return _region(region)


def normalise(id_type: str, values: Any, *, region: str | None = None) -> pa.Array:
    """Normalised identifier values; null where a value is missing or only says so ("null")."""
    text = values if isinstance(values, pa.ChunkedArray) else pa.array(values, pa.string())
    if text.type != pa.string():
        text = pc.cast(text, pa.string())
    text = pc.utf8_trim_whitespace(text)
    if id_type == "email":
        text = pc.utf8_lower(pc.replace_substring_regex(text, r"\s+", ""))
    elif id_type == "phone":
        text = _phone(text, phone_region(region))
    missing = pc.is_in(pc.utf8_lower(text), value_set=pa.array(NULL_TOKENS, pa.string()))
    out = pc.if_else(pc.fill_null(missing, True), pa.scalar(None, pa.string()), text)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _phone(text: Any, region: PhoneRegion) -> Any:
    """E.164: "06 1234 5678", "0031 6..." and "+31 (0)6 ..." all become "+316..."."""
    text = pc.replace_substring(text, "(0)", "")
    plus = pc.starts_with(text, "+")
    digits = pc.replace_substring_regex(text, r"[^0-9]", "")
    cc = region.country_code
    prefix = region.national_prefix
    # a region without a trunk prefix has no national way of writing a number to undo
    national = pc.starts_with(digits, prefix) if prefix else pc.equal(pc.utf8_length(digits), -1)
    international = pc.if_else(
        plus,
        digits,
        pc.if_else(
            pc.starts_with(digits, "00"),
            pc.utf8_slice_codeunits(digits, 2),
            pc.if_else(
                national,
                pc.binary_join_element_wise(cc, pc.utf8_slice_codeunits(digits, len(prefix)), ""),
                pc.if_else(
                    pc.and_(
                        pc.is_in(
                            pc.utf8_length(digits),
                            value_set=pa.array([len(cc) + n for n in region.mobile_lengths]),
                        ),
                        pc.starts_with(digits, cc),
                    ),
                    digits,
                    pc.binary_join_element_wise(cc, digits, ""),
                ),
            ),
        ),
    )
    e164 = pc.binary_join_element_wise("+", international, "")
    return pc.if_else(pc.equal(digits, ""), pa.scalar(None, pa.string()), e164)


def normalise_one(id_type: str, value: str, *, region: str | None = None) -> str | None:
    """One value, through the same code as a column."""
    result = normalise(id_type, pa.array([value], pa.string()), region=region)[0].as_py()
    return str(result) if result is not None else None
