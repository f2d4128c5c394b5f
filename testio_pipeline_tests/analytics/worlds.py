"""Small hand-built accounts whose analytics answers are worked out by hand below."""

from __future__ import annotations

from .builder import WarehouseBuilder

SHOP = 10
CHECKOUT = 100  # catalog; 2 tests (3 snapshots); 8 bugs, 2 rejected, one of each severity
SEARCH = 101  # catalog; never tested
OLD_CART = 102  # deleted from the catalog, referenced by two snapshots; 1 valid bug
LEGACY_LOGIN = 103  # deleted, never referenced: no row anywhere
WISHLIST = 104  # never in the features table at all, referenced by one snapshot

TEST_A = 1000  # archived, ends 2025-03-01
TEST_B = 1001  # running, ends 2025-03-08


def shop(wb: WarehouseBuilder) -> None:
    """One product with every feature-row case of the contract.

    Expected `feature_bug_density` of customer `wb.customer_id`:

    | feature | in_catalog | title | tests | total | valid | acc | rej | fwd | density |
    | 100 | true | "Checkout" | 2 | 8 | 6 | 5 | 2 | 1 | 3.0 |
    | 101 | true | "Search" | 0 | 0 | 0 | 0 | 0 | 0 | NULL |
    | 102 | false | "Cart (newest snapshot)" | 2 | 1 | 1 | 1 | 0 | 0 | 0.5 |
    | 104 | false | "Wishlist" | 1 | 0 | 0 | 0 | 0 | 0 | 0.0 |

    Valid Checkout bugs by severity: one each of critical, high, low, visual, content, custom
    (the rejected ones are a high and a critical). Bug 9 has no test feature: it is absent
    from every feature count and present in the product totals (10 bugs for product 10).
    """
    wb.product(SHOP, "Shop")
    wb.feature(CHECKOUT, SHOP, "Checkout")
    wb.feature(SEARCH, SHOP, "Search")
    wb.feature(OLD_CART, SHOP, "Cart (catalog title when deleted)", is_deleted=True)
    wb.feature(LEGACY_LOGIN, SHOP, "Legacy login", is_deleted=True)
    wb.test(
        TEST_A, SHOP, status="archived",
        start_at="2025-02-27 09:00:00+00", end_at="2025-03-01 18:00:00+00",
    )
    wb.test(
        TEST_B, SHOP, status="running",
        start_at="2025-03-06 09:00:00+00", end_at="2025-03-08 18:00:00+00",
    )
    wb.test_feature(5000, TEST_A, CHECKOUT, product_id=SHOP, title="Checkout v1")
    # the same feature twice in one test still covers one test
    wb.test_feature(5005, TEST_A, CHECKOUT, product_id=SHOP, title="Checkout v1 again")
    wb.test_feature(5001, TEST_B, CHECKOUT, product_id=SHOP, title="Checkout v2")
    wb.test_feature(5003, TEST_B, OLD_CART, product_id=SHOP, title="Cart (newest snapshot)")
    # inserted after 5003 but with a lower id: "newest" means highest test_features.id
    wb.test_feature(5002, TEST_A, OLD_CART, product_id=SHOP, title="Cart (old snapshot)")
    wb.test_feature(5004, TEST_B, WISHLIST, product_id=SHOP, title="Wishlist")

    def checkout_bug(id: int, severity: str, status: str, **extra: object) -> None:
        wb.bug(
            id, test_id=TEST_A, product_id=SHOP, test_feature_id=5000, feature_id=CHECKOUT,
            severity=severity, status=status, **extra,
        )

    checkout_bug(1, "critical", "accepted")
    checkout_bug(2, "high", "accepted")
    checkout_bug(3, "low", "forwarded")
    checkout_bug(4, "visual", "accepted")
    checkout_bug(5, "content", "accepted")
    checkout_bug(6, "custom", "accepted", auto_accepted=True)
    checkout_bug(7, "high", "rejected")
    checkout_bug(8, "critical", "rejected")
    wb.bug(9, test_id=TEST_B, product_id=SHOP, severity="critical", status="accepted")
    wb.bug(
        10, test_id=TEST_A, product_id=SHOP, test_feature_id=5002, feature_id=OLD_CART,
        severity="low", status="accepted",
    )
