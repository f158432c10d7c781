"""The scanner the integration run applies to every service log (tests/fixtures/log_privacy.py) finds what
docs/privacy.md says no log holds, and not the ids, hashes and addresses logs do hold."""

from __future__ import annotations

from tests.fixtures.log_privacy import leaks


def test_it_finds_addresses_phone_numbers_webhook_secrets_private_keys_and_given_secrets() -> None:
    lines = [
        "refused event from Ada.Lovelace+gifts@mail.example.org",
        "identify: ada@例え.jp",
        "caller +44 20 7946 0958 said",
        "stripe secret whsec_abc123 configured",
        "-----BEGIN EC PRIVATE KEY-----",
        "Authorization: Bearer 6f1c2d",
    ]
    found = leaks("\n".join(lines), secrets=["6f1c2d"])
    assert [entry.split(":", 1)[0] for entry in found] == [
        f"line {n} holds {what}"
        for n, what in [
            (1, "an email address"),
            (2, "an email address"),
            (3, "a phone number"),
            (4, "a Stripe webhook secret"),
            (5, "a private key"),
            (6, "the secret 6f1c…"),
        ]
    ]


def test_ids_hashes_times_and_addresses_of_services_are_not_leaks() -> None:
    lines = [
        "2026-12-07 01:02:03,456 INFO ingest: accepted 12 events (constituent email:3f9a0c…)",
        "POST /v1/events 202 from 127.0.0.1:53422 in 0.004 s",
        "scorer: partition touchpoints-3 at offset 1234567, lag 0",
        "kafka bootstrap kafka-0.kafka:9092,kafka-1.kafka:9092",
    ]
    assert leaks("\n".join(lines)) == []
