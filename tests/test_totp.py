"""TOTP: RFC 6238 vectors through our verifier, the ±1 window, code shapes, recovery codes."""

import base64
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from webapp import totp

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
# RFC 6238 Appendix B, SHA1, truncated to 6 digits (the last six of the 8-digit values).
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("when", "eight"), RFC_VECTORS)
def test_rfc6238_vectors(when, eight):
    code = eight[-6:]
    assert totp.code_at(RFC_SECRET, when) == code
    assert totp.matching_step(RFC_SECRET, code, when) == when // 30


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_window_is_one_step_each_way(offset, accepted):
    now = 1_800_000_000
    code = totp.code_at(RFC_SECRET, now + 30 * offset)
    step = totp.matching_step(RFC_SECRET, code, now)
    assert (step == now // 30 + offset) if accepted else step is None


def test_secret_is_160_bits_base32():
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) == 20
    assert totp.new_secret() != secret
    assert totp.grouped("ABCDEFGHIJKL") == "ABCD EFGH IJKL"


def test_provisioning_uri_has_issuer_in_label_and_parameters():
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, "alice", "AutoTrader")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert unquote(parsed.path) == "/AutoTrader:alice"
    query = parse_qs(parsed.query)
    assert query["issuer"] == ["AutoTrader"] and query["secret"] == [secret]
    # SHA1 / 6 digits / 30 s are the defaults every app assumes when absent.
    assert query.get("algorithm", ["SHA1"]) == ["SHA1"]
    assert query.get("digits", ["6"]) == ["6"] and query.get("period", ["30"]) == ["30"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123456", ("totp", "123456")),
        (" 123 456 ", ("totp", "123456")),
        ("12345", None),
        ("1234567", None),
        ("12345a", None),
        ("", None),
        ("١٢٣٤٥٦", None),  # Arabic-Indic digits are not accepted
        ("abcde-fghjk", ("recovery", "abcdefghjk")),
        ("ABCDE FGHJK", ("recovery", "abcdefghjk")),
        ("abcde-fghj", None),
    ],
)
def test_code_shapes(raw, expected):
    assert totp.parse_code(raw) == expected


def test_recovery_codes_are_unique_and_parse():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert totp.parse_code(code)[0] == "recovery"


def test_recovery_digest_is_keyed():
    assert totp.recovery_digest(b"k" * 32, "abcde-fghjk") == totp.recovery_digest(
        b"k" * 32, "ABCDEFGHJK"
    )
    assert totp.recovery_digest(b"k" * 32, "abcde-fghjk") != totp.recovery_digest(
        b"j" * 32, "abcde-fghjk"
    )


def test_qr_svg_has_no_inline_style_and_is_big_enough():
    svg = totp.qr_svg(totp.provisioning_uri(totp.new_secret(), "alice", "AutoTrader"))
    assert svg.startswith("<svg") and "style" not in svg and "<script" not in svg
    import re

    width = int(re.search(r'width="(\d+)"', svg).group(1))
    assert width >= 200
