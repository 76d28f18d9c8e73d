from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from eventdedup.matching import MatchingConfig, MatchingConfigError, load_matching_config
from eventdedup.matching import config as config_module
from eventdedup.matching.config import deep_merge, packaged_defaults_yaml


@pytest.fixture
def packaged_yaml(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Replace the packaged defaults' text for one test (the parsed defaults are cached)."""

    def use(text: str) -> None:
        monkeypatch.setattr(config_module, "packaged_defaults_yaml", lambda: text)
        config_module._packaged_defaults.cache_clear()
        config_module._default_config.cache_clear()

    yield use
    config_module._packaged_defaults.cache_clear()
    config_module._default_config.cache_clear()


def test_defaults_come_from_the_packaged_yaml(packaged_yaml: Callable[[str], None]) -> None:
    cfg = load_matching_config(None)
    assert cfg.thresholds.high == 0.75 and cfg.date.max_range_days == 31
    assert load_matching_config(None) is cfg, "the packaged defaults are read once"
    packaged_yaml(packaged_defaults_yaml().replace("  high: 0.75\n", "  high: 0.8\n", 1))
    assert load_matching_config(None).thresholds.high == 0.8


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("  title_veto: 0.45\n", "thresholds.title_veto: missing key"),
        ("  ocr_fixes: true\n", "normalization.ocr_fixes: missing key"),
    ],
)
def test_a_key_missing_from_the_packaged_yaml_is_named(
    packaged_yaml: Callable[[str], None], remove: str, message: str
) -> None:
    text = packaged_defaults_yaml()
    assert remove in text
    packaged_yaml(text.replace(remove, "", 1))
    with pytest.raises(MatchingConfigError, match=message.replace(".", r"\.")):
        load_matching_config(None)


def test_packaged_word_lists_have_no_duplicates() -> None:
    n = load_matching_config(None).normalization
    lists = {
        "stopwords": n.stopwords,
        "venue_type_heads": n.venue_type_heads,
        "venue_generic_words": n.venue_generic_words,
        "dash_prefixes": n.dash_prefixes,
        "colon_prefixes": n.colon_prefixes,
    }
    for name, words in lists.items():
        assert len(words) == len(set(words)), (
            f"{name}: {sorted(w for w in words if words.count(w) > 1)}"
        )


def test_deep_merge_replaces_leaves_and_merges_mappings() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    merged = deep_merge(base, {"a": {"y": [3]}, "c": {"z": 1}})
    assert merged == {"a": {"x": 1, "y": [3]}, "b": 2, "c": {"z": 1}}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}, "the base is not modified"


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
        ("thresholds: 0.5\n", "thresholds: must be a mapping"),
        (
            "normalization:\n  stopwords: der\n",
            "normalization.stopwords: must be a list of strings",
        ),
        ("guards:\n  person_conflict: 1\n", "guards.person_conflict: must be true or false"),
        ("cluster:\n  max_cluster_size: 2.5\n", "cluster.max_cluster_size: must be an integer"),
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
    cfg = load_matching_config(None)
    assert MatchingConfig.from_json(cfg.to_json()) == cfg
    import json

    assert MatchingConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


def test_stored_json_missing_a_key_takes_the_default() -> None:
    """A configuration stored before a key existed still loads (the key takes its default)."""
    cfg = load_matching_config(None)
    stored = cfg.to_json()
    del stored["thresholds"]["title_veto"]
    assert MatchingConfig.from_json(stored) == cfg
