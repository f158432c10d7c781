"""How many live alert streams a key may hold (services/api/streams.py)."""

from services.api.streams import StreamSlots


def test_a_key_holds_at_most_its_streams_and_a_closed_one_frees_a_slot() -> None:
    slots = StreamSlots(per_key=2)
    assert [slots.take("dashboard") for _ in range(3)] == [True, True, False]
    assert slots.take("console")  # another key has slots of its own
    slots.give_back("dashboard")
    assert slots.take("dashboard") and not slots.take("dashboard")
    for _ in range(2):
        slots.give_back("dashboard")
    slots.give_back("console")
    assert slots.open == {}
