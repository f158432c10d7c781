"""Identity resolution: one person across silos."""

from services.domain.identity import IdentityKeys, IdentityMap

KEYS = IdentityKeys(secret=b"test-secret")


def test_an_email_is_kept_only_as_a_keyed_hash_of_its_normal_form() -> None:
    key = KEYS.key("email", "  Ada@Example.ORG ")
    assert key == KEYS.key("email", "ada@example.org")
    assert "ada" not in key and "example" not in key
    assert key != IdentityKeys(secret=b"another").key("email", "ada@example.org")


def test_an_unknown_identifier_gets_a_stable_new_constituent() -> None:
    first = IdentityMap(KEYS).resolve({"stripe_customer": "cus_1"})
    again = IdentityMap(KEYS).resolve({"stripe_customer": "cus_1"})
    assert first == again and first is not None and first.startswith("k-")
    assert IdentityMap(KEYS).resolve({"stripe_customer": "cus_2"}) != first


def test_an_explicit_constituent_id_wins_and_no_identifier_resolves_to_none() -> None:
    identities = IdentityMap(KEYS)
    assert identities.resolve({"constituent": "c-7", "email": "a@b.org"}) == "c-7"
    assert identities.resolve({}) is None


def test_identify_links_identifiers_so_every_silo_lands_on_one_constituent() -> None:
    identities = IdentityMap(KEYS)
    target, writes, moved = identities.link({"email": "ada@example.org", "stripe_customer": "cus_1"}, "c-ada")
    assert target == "c-ada" and len(writes) == 2 and moved == {}
    assert identities.resolve({"stripe_customer": "cus_1"}) == "c-ada"
    assert identities.resolve({"email": "ADA@example.org"}) == "c-ada"
    # a web login seen with the email joins the same person
    assert identities.resolve({"email": "ada@example.org", "web_user": "u-99"}) == "c-ada"


def test_without_a_target_identify_links_to_where_the_identifiers_already_resolve() -> None:
    identities = IdentityMap(KEYS)
    identities.link({"email": "ada@example.org"}, "c-ada")
    target, _, _ = identities.link({"email": "ada@example.org", "web_user": "u-1"})
    assert target == "c-ada"
    assert identities.resolve({"web_user": "u-1"}) == "c-ada"


def test_relinking_moves_an_identifier_forward_and_reports_where_from() -> None:
    identities = IdentityMap(KEYS)
    identities.link({"stripe_customer": "cus_1"}, "c-old")
    _, writes, moved = identities.link({"stripe_customer": "cus_1"}, "c-new")
    assert moved == {"stripe:cus_1": "c-old"}
    assert identities.resolve({"stripe_customer": "cus_1"}) == "c-new"
    _, writes, _ = identities.link({"stripe_customer": "cus_1"}, "c-new")
    assert writes == {}  # already so: nothing to write


def test_what_a_link_would_touch_is_its_target_and_every_current_owner() -> None:
    """What ingest checks against suppressed people before it links (issue 34)."""
    identities = IdentityMap(KEYS)
    identities.link({"email": "ada@example.org"}, "c-ada")
    identities.link({"stripe_customer": "cus_1"}, "c-bob")
    assert identities.touched({"email": "ada@example.org", "stripe_customer": "cus_1"}, "c-new") == {
        "c-new",
        "c-ada",
        "c-bob",
    }
    assert identities.touched({"email": "ada@example.org"}) == {"c-ada"}
