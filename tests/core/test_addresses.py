"""The core's EIP-55 checksum is eth-utils' for every address."""

from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

import ame_core.addresses
from ame_core.addresses import checksum_hex


def test_addresses_exports() -> None:
    assert ame_core.addresses.__all__ == ["all_checksummed", "checksum_hex"]


def test_checksum_hex_matches_the_eip55_examples() -> None:
    # The test vectors of EIP-55 itself: all caps, all lower, mixed.
    for expected in (
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    ):
        assert checksum_hex(expected[2:].lower()) == expected


@settings(max_examples=500, derandomize=True)
@given(st.integers(min_value=0, max_value=2**160 - 1))
def test_checksum_hex_equals_eth_utils_for_every_address(number: int) -> None:
    digits = f"{number:040x}"
    assert checksum_hex(digits) == to_checksum_address("0x" + digits)
