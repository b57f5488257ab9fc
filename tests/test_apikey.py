"""The API key's format: prefix, 256 random bits, checksum, masking."""

from webapp import apikey


def test_generated_keys_are_well_formed_and_unique():
    keys = {apikey.generate() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("at_")
        assert apikey.is_well_formed(key)


def test_a_typo_breaks_the_checksum():
    key = apikey.generate()
    i = 10
    typo = key[:i] + ("a" if key[i] != "a" else "b") + key[i + 1 :]
    assert not apikey.is_well_formed(typo)
    swapped = key[:5] + key[6] + key[5] + key[7:]
    assert swapped == key or not apikey.is_well_formed(swapped)


def test_wrong_shapes_are_refused():
    key = apikey.generate()
    for bad in [
        "",
        "at_",
        key[:-1],
        key + "x",
        "xx_" + key[3:],
        key.replace("at_", "AT_"),
        " " + key,
    ]:
        assert not apikey.is_well_formed(bad)


def test_masked_shows_prefix_and_last_four_only():
    key = apikey.generate()
    shown = apikey.masked(apikey.hint(key))
    assert shown.startswith("at_") and shown.endswith(key[-4:])
    assert key[3:-4] not in shown
