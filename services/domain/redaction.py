"""Taking personal data out of what Mission Pulse keeps about refused input (dead letters). Pure: no I/O.

A dead letter must still tell an operator what went wrong and, where it matters, whose it was — not hold a
donor's address, name, phone or card. So, in a payload that is JSON, its shape and its short values stay
(field names, types, ids, codes, dates, amounts: what explains a refusal) and personal data goes:

- every value under a personal field (names, postal addresses, phone numbers, card and bank details, IP
  addresses) becomes ``[redacted]``;
- and, whatever its key, by what it looks like — under ``id`` and ``…_id`` too, and in object keys:
  every string with a space in it is free text (a note, a description, a full name) and becomes
  ``[redacted]`` (a name in it could not be told from the words around it); every email address, in any
  script (``josé@exämple.org``, ``用户@例子.广告``), becomes its identity key (``email:<HMAC>``, the keyed
  hash identity resolution uses, so the person can still be told apart), or ``[redacted]`` where no key is
  at hand; a phone number (nine digits or more with a ``+`` or separators) or a card number (13–19 digits
  passing the Luhn check) becomes ``[redacted]``; other long digit runs do too, except as a whole ``…_id``
  value (identifiers, not phone numbers).

A payload that is not JSON, and input whose signature did not verify, are not kept at all: only their
SHA-256 and size (see ``dead_letters.dead_letter``). See docs/privacy.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

REDACTED = "[redacted]"
# an address in any script: a local part of anything but spaces and the few characters RFC 5322 reserves,
# and a domain of labels of letters, digits and dashes ending in a label of letters
EMAIL = re.compile(r"[^\s@<>()\[\],;:\"'`]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
# nine or more digits, maybe grouped by spaces, dots, dashes or brackets: phone, card and account numbers
DIGIT_RUN = re.compile(r"(?<![\w.])\+?\d(?:[\s().-]*\d){8,}(?![\w])")
PHONE_LIKE = re.compile(r"^\+|\d[\s().-]+\d")  # a leading + or digits grouped by separators
PERSONAL_FIELDS = frozenset(
    {
        # names
        "name", "first_name", "last_name", "full_name", "given_name", "family_name", "middle_name",
        "customer_name", "billing_name", "shipping_name", "cardholder_name", "display_name", "nickname",
        "firstname", "lastname", "fullname",
        # postal addresses
        "address", "billing_address", "shipping_address", "line1", "line2", "street", "street_address",
        "city", "postal_code", "postcode", "zip", "zip_code",
        # phones
        "phone", "phone_number", "mobile", "telephone",
        # cards and bank accounts
        "card", "last4", "exp_month", "exp_year", "fingerprint", "cvc", "iban", "account_number",
        "routing_number", "sort_code", "bank_account",
        # where someone is
        "ip", "ip_address", "client_ip", "useragent", "user_agent",
    }
)  # fmt: skip
EmailKey = Callable[[str], str]


def redact_text(text: str, email_key: EmailKey | None = None) -> str:
    """Email addresses → their identity key (or [redacted]); long digit runs → [redacted]."""
    text = EMAIL.sub(lambda match: email_key(match.group()) if email_key else REDACTED, text)
    return DIGIT_RUN.sub(REDACTED, text)


def redact_value(value: Any, email_key: EmailKey | None = None, key: str = "") -> Any:
    """A JSON value with personal fields redacted and the rest redacted by what it looks like, whatever its
    depth, its keys included."""
    if isinstance(value, dict):
        redacted: dict[str, Any] = {}
        for name, item in value.items():
            shown = _redact_key(str(name), email_key, redacted)
            redacted[shown] = REDACTED if _personal(name, item) else redact_value(item, email_key, str(name))
        return redacted
    if isinstance(value, list):
        return [redact_value(item, email_key, key) for item in value]
    if isinstance(value, str):
        if any(character.isspace() for character in value.strip()):
            return REDACTED  # free text
        if (key.lower() == "id" or key.lower().endswith("_id")) and _identifier(value):
            return value  # an identifier: its digits are not a phone number
        return redact_text(value, email_key)
    return value


def _identifier(value: str) -> bool:
    """Whether a value under an id field looks like an identifier: no email, phone or card number in it."""
    if EMAIL.search(value):
        return False
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 9 and PHONE_LIKE.search(value):
        return False
    return not (value.isdigit() and 13 <= len(value) <= 19 and _luhn(value))


def _luhn(digits: str) -> bool:
    total = 0
    for position, character in enumerate(reversed(digits)):
        digit = int(character) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _redact_key(name: str, email_key: EmailKey | None, taken: dict[str, Any]) -> str:
    """An object key redacted by what it looks like (``[redacted]``, ``[redacted] 2``… when several are)."""
    shown = REDACTED if any(c.isspace() for c in name.strip()) else redact_text(name, email_key)
    if shown == name or shown not in taken:
        return shown
    number = 2
    while f"{shown} {number}" in taken:
        number += 1
    return f"{shown} {number}"


def _personal(key: Any, value: Any) -> bool:
    return isinstance(key, str) and key.lower() in PERSONAL_FIELDS and value not in (None, "", [], {})


def redact_payload(raw: bytes, email_key: EmailKey | None = None) -> bytes | None:
    """The payload with personal data taken out; None when it is not JSON (then nothing of it is kept)."""
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return orjson.dumps(redact_value(decoded, email_key))
