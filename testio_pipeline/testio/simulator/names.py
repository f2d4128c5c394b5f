"""Word pools the generator draws names, titles and cosmetic fields from.

Pools are tuples so the generator indexes them with small integers and the rendered JSON
shares one string object per distinct value (memory stays flat at `large`).
"""

from __future__ import annotations

PRODUCT_STEMS = (
    "Canva", "Flourish", "remove.bg", "Shoply", "Travelmate", "Bankly", "Fitbit Coach",
    "Mealbox", "Parcelo", "Streamix", "Ticketeer", "Docsign", "Cloudcart", "Learnly",
    "Petpal", "Homefix", "Carrental", "Newsroom", "Podhub", "Quizzy", "Ridewell",
    "Skybook", "Tasklane", "Vitalis", "Walletly", "Zentry", "Artboard", "Beatbox",
    "Chatterly", "Dinehub",
)
PRODUCT_SUFFIXES = (
    "", " Monoproduct", " Web", " iOS", " Android", " Checkout", " Admin", " Staging",
    " Mobile", " Sandbox",
)
PRODUCT_TYPES = (
    "website", "mobile_app_ios", "mobile_app_android", "mobile_app_windows", "streaming_app",
    "gaming",
)
PRODUCT_TYPE_WEIGHTS = (0.55, 0.18, 0.17, 0.02, 0.05, 0.03)
PRODUCT_DESCRIPTIONS = (
    None, "Main customer-facing product.", "Release candidate builds for the store.",
    "Internal tools used by the support team.", None, "Public website and shop.",
)
SECTION_NAMES = (
    "Editor", "Presentations", "Checkout", "Account", "Search", "Onboarding", "Web", "API",
    "Payments", "Dashboard",
)

FEATURE_GROUPS = (
    "Editing Surfaces", "Presentations", "Checkout", "Account", "Search", "Onboarding",
    "Navigation", "Payments", "Sharing", "Settings", "Notifications", "Media",
)
FEATURE_NAMES = (
    "Mobile Tabs", "Recording", "Login", "Sign up", "Password reset", "Cart", "Promo codes",
    "Order history", "Profile", "Filters", "Sorting", "Upload", "Download", "Export to PDF",
    "Comments", "Dark mode", "Push notifications", "Language switch", "Invoices",
    "Subscriptions", "Templates", "Image editor", "Video player", "Map view", "Favorites",
    "Wishlist", "Chat", "Calendar", "Reminders", "Search bar",
)
RENAME_SUFFIXES = (" (new)", " v2", " – redesign", " (beta)", " 2.0")
FEATURE_DESCRIPTIONS = (
    "Tabs shown at the bottom on mobile", "Covers the whole flow end to end",
    "Only the happy path is in scope", "Check layout on small screens", "", "Uses test data",
)
HOWTOFIND = (
    "Open any design on a phone", "Main menu > Settings", "Footer link", "Present > Record",
    "Profile icon, top right", "Search field in the header",
)
STORY_TEMPLATES = (
    "As a user, I can open the {f}", "I can use the {f} on mobile",
    "On mobile, I can close the {f} by swiping down", "I can undo changes in the {f}",
    "I see an error message when the {f} fails", "I can share the {f} with a colleague",
    "I can use the {f} with the keyboard only", "The {f} loads within two seconds",
)
# the same story title under several features: title matching is ambiguous (quirk 5.7)
SHARED_STORY_TITLES = ("I can log in", "I can log out", "I can change the language")

TEST_TITLE_TEMPLATES = (
    "Release {n}.{m} regression", "Sprint {n} smoke test", "{f} exploratory", "Hotfix {n}.{m}.{k}",
    "{f} – focused test", "Weekly coverage #{n}", "Store build {n}.{m} check",
    "Accessibility pass {n}", "Usability study {n}", "Payment flow {n}.{m}",
)
TESTING_TYPES = ("coverage", "focused", "rapid", "usability")
TESTING_TYPE_WEIGHTS = (0.62, 0.18, 0.15, 0.05)
GOALS = (
    ("**Find blockers**", "Find blockers"),
    ("Find functional bugs in the *new* release", "Find functional bugs in the new release"),
    ("Check the checkout on all browsers", "Check the checkout on all browsers"),
    ("Explore the new onboarding", "Explore the new onboarding"),
)
INSTRUCTIONS = (
    ("Use the staging shop", "Use the staging shop"),
    ("Log in with the **test account**", "Log in with the test account"),
    ("Do not place real orders", "Do not place real orders"),
)
OUT_OF_SCOPE = ((None, None), ("Legacy admin pages", "Legacy admin pages"), ("*Payments*", "Payments"))

BUG_TITLE_TEMPLATES = (
    "{f}: button does nothing", "{f} crashes after tapping back", "{f}: text overlaps on small screens",
    "{f} shows a wrong total", "Typo in {f}", "{f} does not load on slow network",
    "{f}: spinner never stops", "{f}: layout breaks in landscape", "{f}: error 500 on submit",
    "{f}: image is cut off", "{f}: missing translation", "{f} ignores the promo code",
)
BUG_STEPS = (
    "Open the app", "Log in with the test account", "Navigate to the feature",
    "Tap the primary button", "Rotate the device", "Go back", "Reload the page",
    "Enter a long text", "Apply code PROMO20", "Proceed to checkout",
)
EXPECTED_RESULTS = ("Total is reduced by 20%", "The page loads", "The dialog closes", "No error is shown")
ACTUAL_RESULTS = ("Total unchanged", "Blank page", "Nothing happens", "An error 500 is shown")
# expected_result / actual_result come back null, empty or whitespace-only sometimes (quirk 5.9)
BLANK_RESULTS = (None, "", "   ", "\n")
LOCATIONS = (
    "https://staging.example.com/checkout", "https://staging.example.com/", "app://home",
    "https://staging.example.com/account", "app://settings",
)
DEVICES = (
    (5521, "Computers", "Dell", "XPS 13", 6, "Windows", "Chrome"),
    (5522, "Computers", "Apple", "MacBook Pro", 7, "macOS", "Safari"),
    (5523, "Smartphones", "Apple", "iPhone 15", 8, "iOS", "Safari"),
    (5524, "Smartphones", "Samsung", "Galaxy S23", 9, "Android", "Chrome"),
    (5525, "Tablets", "Apple", "iPad Air", 8, "iOS", "Safari"),
    (5526, "Computers", "Lenovo", "ThinkPad X1", 6, "Windows", "Firefox"),
    (5527, "Smartphones", "Google", "Pixel 8", 9, "Android", "Chrome"),
)
REJECT_REASONS = (
    ("device_not_relevant", "Device not relevant", "This device is not relevant for us."),
    ("ignored_instructions", "Ignored instructions", "The tester ignored the instructions."),
    ("intended_behavior", "Intended behavior", "This is intended behavior."),
    ("irrelevant", "Irrelevant", "This bug is not relevant for us."),
    ("known_bug", "Known bug", "This is a legit bug but already known."),
    ("not_reproducible", "Not reproducible", "We could not reproduce this bug."),
    ("request_timeout", "Request timeout", "The tester did not answer within 24 hours."),
)

_NO_DEVICES: dict = {"devices": [], "input_devices": [], "vendor": None}
REQUIREMENTS = {
    "computer": {
        "id": 1, "category": {"id": 1, "key": "computer", "name": "Computers"},
        "operating_system": {"id": 6, "key": "windows", "name": "Windows"},
        "min_operating_system_version": {"id": 198, "name": "10"}, "max_operating_system_version": None,
        "browsers": [{"id": 2, "name": "Chrome", "key": "chrome"}], **_NO_DEVICES,
        "browser_based": True, "gaming": False,
    },
    "ios": {
        "id": 2, "category": {"id": 2, "key": "smartphone", "name": "Smartphones"},
        "operating_system": {"id": 8, "key": "ios", "name": "iOS"},
        "min_operating_system_version": {"id": 301, "name": "16"}, "max_operating_system_version": None,
        "browsers": [], **_NO_DEVICES, "browser_based": False, "gaming": False,
    },
    "android": {
        "id": 3, "category": {"id": 2, "key": "smartphone", "name": "Smartphones"},
        "operating_system": {"id": 9, "key": "android", "name": "Android"},
        "min_operating_system_version": {"id": 402, "name": "12"}, "max_operating_system_version": None,
        "browsers": [], **_NO_DEVICES, "browser_based": False, "gaming": False,
    },
}
REQUIREMENT_BY_PRODUCT_TYPE = {"mobile_app_ios": "ios", "mobile_app_android": "android"}

TESTER_PREFIXES = ("tester", "bughunter", "qa", "crowd", "ninja", "pixel", "debug", "hawk")
TESTER_INITIALS = "abcdefghijklmnopqrstuvwxyz"
CUSTOMER_FIRST = ("jane", "max", "lena", "tom", "sara", "paul", "mia", "jonas", "eva", "luca")
CUSTOMER_LAST = ("customer", "mueller", "schmidt", "weber", "fischer", "becker", "wagner", "hoffmann")


def tester_name(index: int) -> str:
    """The screen name of tester number `index` (stable, unique per index)."""
    prefix = TESTER_PREFIXES[index % len(TESTER_PREFIXES)]
    a = TESTER_INITIALS[(index * 7) % 26]
    b = TESTER_INITIALS[(index * 11 + 3) % 26]
    return f"{prefix}_{a}.{b}{index // len(TESTER_PREFIXES) or ''}"


def customer_name(index: int) -> str:
    """The username of customer user number `index` (stable, unique per index)."""
    first = CUSTOMER_FIRST[index % len(CUSTOMER_FIRST)]
    last = CUSTOMER_LAST[(index // len(CUSTOMER_FIRST)) % len(CUSTOMER_LAST)]
    suffix = index // (len(CUSTOMER_FIRST) * len(CUSTOMER_LAST))
    return f"{first}.{last}{suffix or ''}"
