"""The owner data the tests use, in one place: each is named for what it tests.

Owner data is what recovery compares "with absolute accuracy", so a test that
needs another owner says so with ``dataclasses.replace`` on one of these.
"""

from __future__ import annotations

from dataclasses import replace

from licwiz.core.owner import OwnerData

# An organisation with every field filled: the usual first-time registration.
ORGANISATION = OwnerData(
    kind="organisation", organisation="Acme Widgets B.V.", contact="Jane Roe",
    email="jane.roe@example.com", phone="+31 30 123 4567", country="Netherlands",
    postcode="3511 AB", region="Utrecht", city="Utrecht", address="Oudegracht 1",
)

# Letters outside ASCII in every kind of field (canonical form, digests, phone codes).
UNICODE_ORGANISATION = OwnerData(
    kind="organisation", organisation="Ørsted Prøve GmbH", contact="Zoë Müller",
    email="zoe@example.com", phone="+49 30 1234567", country="DE", postcode="10115",
    region="Berlin", city="Berlin", address="Invalidenstraße 1",
)

# A private person: no organisation.
PERSON = OwnerData(
    kind="person", contact="Åsa Öberg", email="asa.oberg@example.se", phone="+46 8 123 456",
    country="Sweden", postcode="111 22", city="Stockholm", address="Drottninggatan 5",
)

# Typed key by key in a terminal: region and city differ, so a value typed into
# the wrong field shows.
TYPED = replace(ORGANISATION, organisation="Acme Widgets", region="Utrecht Province", city="Utrecht City")
