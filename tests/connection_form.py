"""What the ``hubspot`` connection form offers beyond the standard fields, in the order shown: the
one expectation that the provider metadata (unit) and the form the UI serves (e2e) are held to."""

EXTRA_FIELDS = (
    "api_version",
    "requests_per_10s",
    "daily_reserve",
    "timeout",
    "client_id",
    "client_secret",
    "refresh_token",
)
