"""Fuzzing: no payload makes an adapter fail other than by saying why (Unusable or Unverified)."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import suppress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.adapters import Unusable, Unverified, beacon, sendgrid, ses, sns, stripe

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values)
def test_no_payload_makes_an_adapter_fail_other_than_saying_why(payload: object) -> None:
    adapters = (
        stripe.map_event,
        sendgrid.map_events,
        lambda p: [beacon.map_beacon(p, now=0, secret=b"s")],
        lambda p: ses.map_notification({"Message": json.dumps(p)}),
    )
    for adapter in adapters:
        with suppress(Unusable, Unverified):
            assert all(isinstance(mapped.event, dict) for mapped in adapter(payload))


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "Type",
                "SignatureVersion",
                "Timestamp",
                "Signature",
                "SigningCertURL",
                "Message",
                "MessageId",
                "TopicArn",
            ]
        ),
        json_values,
    )
)
def test_no_sns_envelope_makes_verification_fail_other_than_saying_why(message: dict[str, object]) -> None:
    async def fetch(url: str) -> bytes:
        return b"not a certificate"

    topic = message.get("TopicArn")
    allowed = frozenset({topic}) if isinstance(topic, str) else frozenset()  # past the topic check too
    with pytest.raises((Unusable, Unverified)):
        asyncio.run(sns.verify(message, sns.CertificateCache(fetch, trust=None), allowed, time.time()))
