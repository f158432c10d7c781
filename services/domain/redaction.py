"""Taking personal data out of what Mission Pulse keeps about refused input (dead letters). Pure: no I/O.

A dead letter must still tell an operator what went wrong and, where it matters, whose it was — not hold a
donor's address, name, phone or card. So, in a payload that is JSON, its shape and its short values stay
(field names, types, ids, codes, dates, amounts: what explains a refusal) and personal data goes:

- every value under a personal field (names, postal addresses, phone numbers, card and bank details, IP
  addresses) becomes ``[redacted]``;
- every string with a space in it is free text (a note, a description, a full name) and becomes
  ``[redacted]``: a name in it could not be told from the words around it;
- every email address becomes its identity key (``email:<HMAC>``, the keyed hash identity resolution uses,
  so the person can still be told apart), or ``[redacted]`` where no key is at hand;
- long digit runs that look like phone, card or account numbers become ``[redacted]``.

A payload that is not JSON, and input whose signature did not verify, are not kept at all: only their
SHA-256 and size (see ``dead_letters.dead_letter``). See docs/privacy.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

REDACTED = "[redacted]"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# nine or more digits, maybe grouped by spaces, dots, dashes or brackets: phone, card and account numbers
DIGIT_RUN = re.compile(r"(?<![\w.])\+?\d(?:[\s().-]*\d){8,}(?![\w])")
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
    """A JSON value with personal fields redacted and emails keyed, whatever its depth. Under a field named
    like an id (``id``, ``…_id``) digit runs are kept: they are identifiers, not phone numbers."""
    if isinstance(value, dict):
        return {
            name: (REDACTED if _personal(name, item) else redact_value(item, email_key, str(name)))
            for name, item in value.items()
        }
    if isinstance(value, list):
        return [redact_value(item, email_key, key) for item in value]
    if isinstance(value, str):
        if key.lower() == "id" or key.lower().endswith("_id"):
            return EMAIL.sub(lambda match: email_key(match.group()) if email_key else REDACTED, value)
        if any(character.isspace() for character in value.strip()):
            return REDACTED  # free text
        return redact_text(value, email_key)
    return value


def _personal(key: Any, value: Any) -> bool:
    return isinstance(key, str) and key.lower() in PERSONAL_FIELDS and value not in (None, "", [], {})


def redact_payload(raw: bytes, email_key: EmailKey | None = None) -> bytes | None:
    """The payload with personal data taken out; None when it is not JSON (then nothing of it is kept)."""
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return orjson.dumps(redact_value(decoded, email_key))
