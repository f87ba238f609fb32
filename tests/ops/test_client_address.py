"""The client address every per-address limit uses (pytake/client_address.py)."""

import pytest

from pytake.client_address import client_address, login_username


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "10.0.0.1"),  # reached directly: the header is the client's to write
        (1, "", "10.0.0.1"),
        (1, "198.51.100.7", "198.51.100.7"),  # the shipped nginx: one entry, the peer it saw
        (1, "203.0.113.9, 198.51.100.7", "198.51.100.7"),  # an appending proxy: forged entry left of it
        (2, "203.0.113.9, 198.51.100.7, 192.0.2.4", "198.51.100.7"),
        (2, "198.51.100.7", "198.51.100.7"),
        (1, "not-an-address", "10.0.0.1"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_the_client_is_the_nth_entry_from_the_right(settings, proxies, forwarded, expected):
    settings.PYTAKE_TRUSTED_PROXIES = proxies
    meta = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_address(meta) == expected


def test_the_login_name_is_the_admin_forms_or_the_apis():
    assert login_username(None, {"username": " Op@Example.test "}) == "op@example.test"
    assert login_username(None, {"email": "agent@example.test"}) == "agent@example.test"
    assert login_username(None, {}) is None
