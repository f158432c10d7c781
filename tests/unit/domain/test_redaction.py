"""Dead letters keep what went wrong and whose it was, not a donor's address, name, phone or card."""

from __future__ import annotations

import orjson
import pytest

from services.domain.dead_letters import dead_letter
from services.domain.redaction import REDACTED, redact_payload, redact_text


def key(address: str) -> str:
    return f"email:hash-of-{address.lower()}"


def test_every_email_address_becomes_its_identity_key_wherever_it_is() -> None:
    payload = orjson.dumps({"receipt_email": "Ada@Example.org", "cc": ["bob.smith+gifts@mail.example.co.uk"]})
    redacted = orjson.loads(redact_payload(payload, key) or b"")
    assert redacted == {
        "receipt_email": "email:hash-of-ada@example.org",
        "cc": ["email:hash-of-bob.smith+gifts@mail.example.co.uk"],
    }
    assert redact_text("write to ada@example.org", None) == f"write to {REDACTED}"  # no key: nothing kept


def test_free_text_is_redacted_whole_and_short_values_that_explain_a_refusal_stay() -> None:
    event = {
        "event_id": "e-1",
        "type": "web.teleported",
        "occurred_at": "last tuesday",
        "attributes": {
            "note": "Grace Hopper called",
            "amount": 25,
            "currency": "USD",
            "form": "volunteer_signup",
        },
    }
    redacted = orjson.loads(redact_payload(orjson.dumps(event), key) or b"")
    assert redacted == {
        "event_id": "e-1",
        "type": "web.teleported",
        "occurred_at": REDACTED,  # free text: a name could hide in it
        "attributes": {"note": REDACTED, "amount": 25, "currency": "USD", "form": "volunteer_signup"},
    }


def test_names_addresses_phones_cards_and_ips_are_redacted_whatever_their_depth() -> None:
    charge = {
        "id": "ch_123456789012",
        "amount": 5000,
        "billing_details": {
            "name": "Ada Lovelace",
            "phone": "+44 20 7946 0958",
            "address": {"line1": "12 St James's Square", "city": "London", "postal_code": "SW1Y 4JH"},
        },
        "payment_method_details": {"card": {"brand": "visa", "last4": "4242", "exp_month": 12}},
        "metadata": {"donor_note": "call me on 020 7946 0958", "constituent_id": "c-123456789"},
        "client_ip": "203.0.113.9",
    }
    text = (redact_payload(orjson.dumps(charge), key) or b"").decode()
    for personal in ("Ada Lovelace", "7946", "James", "London", "SW1Y", "4242", "203.0.113.9"):
        assert personal not in text, personal
    redacted = orjson.loads(text)
    assert redacted["id"] == "ch_123456789012" and redacted["amount"] == 5000  # what tells an operator why
    assert redacted["metadata"]["constituent_id"] == "c-123456789"  # ids keep their digits
    assert redacted["billing_details"]["name"] == REDACTED


def test_a_payload_that_is_not_json_is_not_kept_but_as_its_hash() -> None:
    raw = b"garbage from Grace Hopper, ada@example.org, tel 0044 20 7946 0958 {"
    assert redact_payload(raw, key) is None
    letter = dead_letter(
        source="api", reason_code="unparseable", reason="not JSON", raw=raw, service="ingest", at=0
    )
    assert (letter["payload"], letter["payload_bytes"], letter["truncated"]) == ("", len(raw), True)
    assert "Grace" not in orjson.dumps(letter).decode()


@pytest.mark.parametrize("code", ["signature", "not_allowed"])
def test_input_that_failed_verification_is_kept_only_as_its_hash_and_size(code: str) -> None:
    raw = orjson.dumps({"receipt_email": "ada@example.org", "billing_details": {"name": "Ada Lovelace"}})
    letter = dead_letter(source="stripe", reason_code=code, reason="bad", raw=raw, service="ingest", at=0.0)  # type: ignore[arg-type]
    assert (
        letter["payload"] == ""
        and letter["payload_bytes"] == len(raw)
        and len(letter["payload_sha256"]) == 64
    )
    assert "ada" not in orjson.dumps(letter).decode().lower()


def test_a_dead_letters_reason_is_redacted_too() -> None:
    letter = dead_letter(
        source="api",
        reason_code="schema",
        reason="occurred_at: 'ada@example.org' is not a 'date-time'",
        raw=b"{}",
        service="ingest",
        at=0.0,
        email_key=key,
    )
    assert letter["reason"] == "occurred_at: 'email:hash-of-ada@example.org' is not a 'date-time'"
    assert letter["truncated"] is False


def test_a_callers_dead_letters_are_kept_up_to_its_budget_then_one_sample_then_only_counted() -> None:
    from services.domain.dead_letters import DeadLetterBudget

    budget = DeadLetterBudget(per_minute=3)
    minute = 60 * 1000.0
    verdicts = [budget.admit("sendgrid", "sendgrid", minute + n) for n in range(6)]
    assert verdicts == ["keep", "keep", "keep", "sample", "drop", "drop"]
    assert budget.admit("stripe", "stripe", minute) == "keep"  # another caller has a budget of its own
    assert budget.admit("sendgrid", "sendgrid", minute + 60) == "keep"  # a new minute, a new budget


def test_under_id_fields_a_phone_a_card_free_text_or_an_address_is_redacted_and_identifiers_stay() -> None:
    """Issue 34: values under ``…_id`` were kept as they were, whatever they held."""
    metadata = {
        "contact_id": "+1 (555) 123-4567",
        "card_id": "4111111111111111",  # a card number (Luhn) posing as an id
        "note_id": "call Ada after six",
        "donor_id": "ada@example.org",
        "constituent_id": "c-123456789",
        "customer_id": "cus_9s6XKzkNRiz8i3",
        "account_id": "123456789012",
    }
    redacted = orjson.loads(redact_payload(orjson.dumps(metadata), key) or b"")
    assert redacted == {
        "contact_id": REDACTED,
        "card_id": REDACTED,
        "note_id": REDACTED,
        "donor_id": "email:hash-of-ada@example.org",
        "constituent_id": "c-123456789",
        "customer_id": "cus_9s6XKzkNRiz8i3",
        "account_id": "123456789012",  # digits alone, not a card: an identifier
    }


def test_object_keys_are_redacted_by_what_they_look_like() -> None:
    payload = {"ada@example.org": {"opens": 3}, "Grace Hopper": 1, "Ada Lovelace": 2, "+44 20 7946 0958": 3}
    redacted = orjson.loads(redact_payload(orjson.dumps(payload), key) or b"")
    assert redacted == {
        "email:hash-of-ada@example.org": {"opens": 3},
        REDACTED: 1,
        f"{REDACTED} 2": 2,
        f"{REDACTED} 3": 3,
    }


def test_addresses_in_any_script_are_found() -> None:
    for address in ("josé.garcía@exämple.org", "用户@例子.广告", "δοκιμή@παράδειγμα.δοκιμή"):
        redacted = orjson.loads(redact_payload(orjson.dumps({"to": address, "cc": [address]}), key) or b"")
        assert redacted == {"to": key(address), "cc": [key(address)]}
        assert redact_text(f"mail {address} today") == f"mail {REDACTED} today"
