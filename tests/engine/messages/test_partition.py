"""The partition of a message: Zeebe's hash of the correlation key (reference §5.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_zeebe.keys import message_partition


def java_string_hash(text: str) -> int:
    """Java's String.hashCode over UTF-16 code units (equal to Zeebe's hash for ASCII)."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i : i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h > 0x7FFFFFFF else h


@pytest.mark.parametrize(
    ("key", "partitions", "expected"),
    [
        ("", 1, 1),
        ("", 7, 1),
        ("order-123", 1, 1),
        ("order-123", 2, 2),
        ("order-123", 3, 1),
        ("order-123", 8, 6),
        ("ü", 8, 8),
    ],
)
def test_the_reference_vectors(key: str, partitions: int, expected: int) -> None:
    assert message_partition(key, partitions) == expected


def test_a_non_ascii_key_hashes_its_signed_utf8_bytes_not_java_chars() -> None:
    # "ü" is one UTF-16 unit (252) but two UTF-8 bytes C3 BC = -61, -68: h = 31 * -61 - 68
    assert java_string_hash("ü") == 252
    assert message_partition("ü", 1000) == 1959 % 1000 + 1


@given(st.text(alphabet=st.characters(max_codepoint=127)), st.integers(1, 64))
def test_for_ascii_keys_it_is_java_string_hash_mod_partitions(key: str, partitions: int) -> None:
    assert message_partition(key, partitions) == abs(java_string_hash(key)) % partitions + 1


@given(st.text(), st.integers(1, 8191))
def test_every_key_lands_on_a_partition(key: str, partitions: int) -> None:
    assert 1 <= message_partition(key, partitions) <= partitions


def test_a_hash_of_minus_two_to_the_31_stays_in_range() -> None:
    # Java's Math.abs(Integer.MIN_VALUE % P) is fine; so must this be for any P
    for partitions in (1, 2, 3, 7, 8191):
        assert 1 <= message_partition("polygenelubricants", partitions) <= partitions
    assert java_string_hash("polygenelubricants") == -(2**31)


def test_no_partitions_is_an_error() -> None:
    with pytest.raises(ValueError, match="partition_count"):
        message_partition("a", 0)
