from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.provenance.gtin import InvalidGtin, check_digit, normalise_gtin


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("09506000134352", "09506000134352"), ("9506000134352", "09506000134352"), ("96385074", "00000096385074")],
)
def test_valid_gtins_normalise_to_14_digits(raw: str, expected: str) -> None:
    assert normalise_gtin(raw) == expected


@pytest.mark.parametrize("raw", ["09506000134353", "123", "abcdefghijklm", "", "095060001343520"])
def test_invalid_gtins_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidGtin) as raised:
        normalise_gtin(raw)
    assert raised.value.field == "gtin"


@given(st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_exactly_one_check_digit_is_valid(body: str) -> None:
    valid = [d for d in "0123456789" if _ok(body + d)]
    assert valid == [str(check_digit(body))]


def _ok(gtin: str) -> bool:
    try:
        normalise_gtin(gtin)
    except InvalidGtin:
        return False
    return True
