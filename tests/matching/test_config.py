from __future__ import annotations

import pytest

from eventdedup.matching import MatchingConfig, MatchingConfigError, load_matching_config


def test_packaged_yaml_equals_code_defaults():
    assert load_matching_config(None) == MatchingConfig()


def test_user_yaml_overrides_subset(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text(
        "thresholds:\n  high: 0.8\nnormalization:\n  city_aliases:\n    Wildtal: Gundelfingen\n"
    )
    cfg = load_matching_config(p)
    assert cfg.thresholds.high == 0.8
    assert cfg.thresholds.low == 0.35  # untouched default
    aliases = dict(cfg.normalization.city_aliases)
    assert aliases["Wildtal"] == "Gundelfingen" and aliases["Nordweil"] == "Kenzingen"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("thresholds:\n  high: 1.5\n", "thresholds.high: must be between 0 and 1"),
        ("thresholds:\n  hgh: 0.5\n", "thresholds.hgh: unknown key"),
        ("geo:\n  max_distance_km: fast\n", "geo.max_distance_km: must be a number"),
        ("bogus: 1\n", "bogus: unknown key"),
        ("thresholds:\n  low: 0.9\n", "thresholds.low: must not exceed"),
        (
            "category_weights:\n  overrides:\n    fasnacht:\n      date: 2\n",
            "category_weights.overrides.fasnacht.date: must be between 0 and 1",
        ),
    ],
)
def test_invalid_values_name_the_key_path(tmp_path, yaml_text, message):
    p = tmp_path / "m.yaml"
    p.write_text(yaml_text)
    with pytest.raises(MatchingConfigError, match=message.replace(".", r"\.")):
        load_matching_config(p)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(MatchingConfigError):
        load_matching_config(tmp_path / "nope.yaml")


def test_json_round_trip():
    cfg = MatchingConfig()
    assert MatchingConfig.from_json(cfg.to_json()) == cfg
    import json

    assert MatchingConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg
