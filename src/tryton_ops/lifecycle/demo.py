"""Demo records for a fresh database: `python -m tryton_ops.lifecycle.demo DB COUNT`.

Runs inside trytond (TRYTOND_CONFIG set by the caller) so the records go through the ORM.
"""

from __future__ import annotations

import sys

CITIES = ["Liège", "Namur", "Brussels", "Ghent", "Leuven", "Antwerp", "Mons", "Bruges"]
STREETS = ["Rue Haute", "Main Street", "Station Road", "Market Square", "Church Lane"]


def demo_parties(count: int) -> list[dict]:
    parties = []
    for i in range(count):
        parties.append(
            {
                "name": f"Demo Party {i:05d}",
                "addresses": [
                    (
                        "create",
                        [
                            {
                                "street": f"{i % 200 + 1} {STREETS[i % len(STREETS)]}",
                                "city": CITIES[i % len(CITIES)],
                                "postal_code": f"{1000 + i % 9000}",
                            }
                        ],
                    )
                ],
                "contact_mechanisms": [
                    ("create", [{"type": "email", "value": f"party{i:05d}@example.com"}])
                ],
            }
        )
    return parties


def load(database: str, count: int) -> None:
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Pool(database).init()
    with Transaction().start(database, 0, context={"active_test": False}):
        Party = Pool().get("party.party")
        Party.create(demo_parties(count))


if __name__ == "__main__":
    load(sys.argv[1], int(sys.argv[2]))
