"""The documented helper (common/webhook_signature.py) and the target check: pure, so
tested exhaustively without a server."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.webhook_signature import DEFAULT_TOLERANCE, SignatureError, sign, signature, verify
from common.webhook_targets import TargetRefused, check_addresses, parse_target, refusal

secrets_ = st.text(min_size=1, max_size=64)
bodies = st.binary(max_size=2048)
times = st.integers(min_value=1_000_000_000, max_value=4_000_000_000)


@given(secrets_, bodies, times)
def test_a_signed_body_verifies_and_gives_its_timestamp(secret: str, body: bytes, t: int) -> None:
    assert verify(secret, body, sign(secret, body, t), now=t) == t


@given(secrets_, bodies, times, st.data())
def test_any_changed_byte_is_detected(
    secret: str, body: bytes, t: int, data: st.DataObject
) -> None:
    header = sign(secret, body, t)
    tampered = data.draw(bodies.filter(lambda b: b != body), label="tampered")
    with pytest.raises(SignatureError):
        verify(secret, tampered, header, now=t)


@given(secrets_, secrets_, bodies, times)
def test_another_secret_is_detected(secret: str, other: str, body: bytes, t: int) -> None:
    if other == secret:
        return
    with pytest.raises(SignatureError):
        verify(other, body, sign(secret, body, t), now=t)


@given(secrets_, bodies, times, st.integers(min_value=DEFAULT_TOLERANCE + 1, max_value=10**6))
def test_an_old_or_future_timestamp_is_refused(secret: str, body: bytes, t: int, skew: int) -> None:
    header = sign(secret, body, t)
    for now in (t + skew, t - skew):
        with pytest.raises(SignatureError, match="tolerance"):
            verify(secret, body, header, now=now)
    assert verify(secret, body, header, now=t + skew, tolerance=skew) == t


@given(secrets_, bodies, times, st.integers(min_value=1, max_value=100))
def test_a_signature_moved_to_another_timestamp_is_refused(
    secret: str, body: bytes, t: int, shift: int
) -> None:
    replayed = f"t={t + shift},v1={signature(secret, t, body)}"
    with pytest.raises(SignatureError):
        verify(secret, body, replayed, now=t + shift)


@given(st.text(max_size=200), bodies)
def test_any_header_is_either_valid_or_a_signature_error(header: str, body: bytes) -> None:
    with contextlib.suppress(SignatureError):
        verify("whsec_x", body, header, now=0)


def test_a_rotated_secret_may_sign_beside_the_old_one() -> None:
    body, t = b'{"id":"evt_1"}', 1_800_000_000
    header = f"t={t},v1={signature('old', t, body)},v1={signature('new', t, body)}"
    assert verify("new", body, header, now=t) == t
    assert verify("old", body, header, now=t) == t


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
     "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "::"],
)  # fmt: skip
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert refusal(address) is not None
    with pytest.raises(TargetRefused, match="operator"):
        check_addresses([address], allow_private=False)
    check_addresses([address], allow_private=True)


def test_one_private_answer_among_public_ones_refuses() -> None:
    assert refusal("93.184.216.34") is None
    assert refusal("2606:4700::1111") is None
    with pytest.raises(TargetRefused):
        check_addresses(["93.184.216.34", "10.0.0.1"], allow_private=False)
    with pytest.raises(TargetRefused, match="resolve"):
        check_addresses([], allow_private=True)


@pytest.mark.parametrize(
    ("url", "why"),
    [("ftp://example.com/x", "http"), ("http:///x", "host"),
     ("https://u:p@example.com/", "password"), ("http://example.com:99999/", "parsed"),
     ("http://" + "a" * 3000, "longer")],
)  # fmt: skip
def test_urls_that_are_not_targets_say_why(url: str, why: str) -> None:
    with pytest.raises(TargetRefused, match=why):
        parse_target(url)


def test_a_target_keeps_its_path_query_and_default_port() -> None:
    target = parse_target("https://Example.com/hooks?x=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https", "example.com", 443, "/hooks?x=1",
    )  # fmt: skip
