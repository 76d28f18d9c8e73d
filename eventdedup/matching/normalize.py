"""Text normalisation used for *live* scoring (§17 items 2 and 9).

Everything here is a pure function of its input and the config. The same
function is applied to both sides of every comparison, so rewrites that are
"wrong" linguistically (``rn`` -> ``m``) are harmless: they only ever make two
renderings of one word agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping

from eventdedup.matching.config import NormalizationConfig

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "œ": "oe"})
# OCR: capital I read for a lower-case l inside a word ("BIutspende").
_OCR_CAPITAL_I = re.compile(r"(?<=[A-Za-zÄÖÜäöüß])I(?=[a-zäöüß])")
# Hyphenation break from line wrapping: "Veranstal- tung", "KINDE- RUMZUG".
# Not an elided compound ("Kultur- und Bürgerhaus"): the next word is not a conjunction.
_HYPHEN_BREAK = re.compile(
    r"(?<=[A-Za-zÄÖÜäöüß])-\s+(?!(?:und|oder|bis|sowie|u\.?)\b)(?=[a-zäöüßA-ZÄÖÜ])"
)
_PUNCT = re.compile(r"[\"'!?,.:;()\[\]{}„“”‚‘’«»*#§|/\\…–—_+&]")
_WS = re.compile(r"\s+")
_TOKEN_SPLIT = re.compile(r"[\s\-]+")


def fold(text: str | None, *, ocr_fixes: bool = True) -> str:
    """Case-fold, compose, expand umlauts/ß, strip accents, repair OCR artefacts.

    Punctuation is kept (callers decide); whitespace is collapsed.
    """
    if not text:
        return ""
    s = unicodedata.normalize("NFC", text)
    if ocr_fixes:
        s = _OCR_CAPITAL_I.sub("l", s)
        s = _HYPHEN_BREAK.sub("", s)
    s = s.casefold().translate(_UMLAUTS)
    # remaining accents (café -> cafe); after umlaut expansion so ä never becomes a
    if not s.isascii():
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    if ocr_fixes:
        s = s.replace("rn", "m")
    return _WS.sub(" ", s).strip()


def strip_punct(text: str) -> str:
    """Remove punctuation except intra-word hyphens (compound structure matters)."""
    s = _PUNCT.sub(" ", text)
    s = re.sub(r"(?<!\w)-|-(?!\w)", " ", s)  # dashes used as separators
    return _WS.sub(" ", s).strip()


_MEMO: list[tuple[NormalizationConfig, dict[object, object]]] = []
_MEMO_LIMIT = 200_000


def _memo(cfg: NormalizationConfig) -> dict[object, object]:
    """Per-config memo of pure normalisation results (names and templates repeat a lot).

    Looked up by identity (hashing the large frozen config per call is costly),
    falling back to equality so equal configs share one memo.
    """
    memo = next((m for k, m in _MEMO if k is cfg), None)
    if memo is None:
        memo = next((m for k, m in _MEMO if k == cfg), {})
        _MEMO[:] = [(cfg, memo), *_MEMO[:3]]
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    return memo


def norm_text(text: str | None, cfg: NormalizationConfig) -> str:
    """Folded, punctuation-free text with whole-token synonyms applied."""
    if not text:
        return ""
    memo = _memo(cfg)
    key = ("n", text)
    out = memo.get(key)
    if out is None:
        out = apply_synonyms(strip_punct(fold(text, ocr_fixes=cfg.ocr_fixes)), _patterns(cfg))
        memo[key] = out
    return out  # type: ignore[return-value]


_LAST_PATTERNS: list[tuple[NormalizationConfig, tuple[tuple[re.Pattern[str], str], ...]]] = []


def _patterns(cfg: NormalizationConfig) -> tuple[tuple[re.Pattern[str], str], ...]:
    # identity check first: hashing the (large, frozen) config on every call is costly
    for known, pats in _LAST_PATTERNS:
        if known is cfg:
            return pats
    pats = _patterns_cached(cfg)
    _LAST_PATTERNS[:] = [(cfg, pats), *_LAST_PATTERNS[:3]]
    return pats


@functools.lru_cache(maxsize=16)
def _patterns_cached(cfg: NormalizationConfig) -> tuple[tuple[re.Pattern[str], str], ...]:
    return synonym_patterns(dict(cfg.synonyms), ocr_fixes=cfg.ocr_fixes)


def synonym_patterns(
    synonyms: Mapping[str, Iterable[str]], *, ocr_fixes: bool = True
) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Compile dialect variants as *morphemes*, with an optional linking "s".

    ``Fasnetsumzug``, ``Fasnachtsumzug`` and ``Karnevalsumzug`` all become
    ``fastnachtumzug``; ``Kinderfasnet`` becomes ``kinderfastnacht``. A variant
    must start a token or follow a compound modifier, and is followed by a
    token end, a hyphen or further compound letters, so replacement stays
    inside words that really contain the carnival morpheme.
    """
    out = []
    for canonical, variants in sorted(synonyms.items()):
        forms = sorted(
            {fold(v, ocr_fixes=ocr_fixes) for v in (*variants, canonical) if v},
            key=lambda v: (-len(v), v),
        )
        alt = "|".join(re.escape(v) for v in forms)
        out.append((re.compile(rf"(?:{alt})s?"), fold(canonical, ocr_fixes=ocr_fixes)))
    return tuple(out)


def apply_synonyms(text: str, patterns: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    for pat, canonical in patterns:
        text = pat.sub(canonical, text)
    return text


def tokens(text: str) -> tuple[str, ...]:
    """Split normalised text on whitespace and hyphens."""
    return tuple(t for t in _TOKEN_SPLIT.split(text) if t)


def join_compounds(text: str) -> str:
    """'tanz-abend' -> 'tanzabend': hyphenated compounds compared as one word."""
    return _WS.sub(" ", text.replace("-", "")).strip()


def prefix_variants(title: str, cfg: NormalizationConfig) -> tuple[str, ...]:
    """The raw title plus versions with a leading label removed (§2.2, §17 item 9).

    Configured prefixes are removed as in the original; in addition any short
    label (at most ``generic_prefix_max_words`` words) before ``:`` or a spaced
    dash is tried. Scoring takes the best variant pair, so stripping is always
    consistent across the two sides and can never *lower* a similarity.
    """
    t = _WS.sub(" ", title or "").strip()
    out = [t]
    low = t.casefold()
    dashes = (" - ", " -- ", " – ", " — ")
    for p in (*cfg.dash_prefixes, *cfg.generic_prefixes):
        pl = p.casefold()
        for d in dashes:
            if low.startswith(pl + d):
                out.append(t[len(pl) + len(d) :].strip())
    for p in cfg.colon_prefixes:
        pl = p.casefold()
        if low.startswith(pl + ":"):
            out.append(t[len(pl) + 1 :].strip())
    if cfg.generic_prefix_max_words:
        m = re.match(r"^(.{1,60}?)(?::\s|\s[-–—]+\s)(.+)$", t)
        if m and len(m.group(1).split()) <= cfg.generic_prefix_max_words:
            rest = m.group(2).strip()
            out.append(rest)
            m2 = re.match(r"^(.{1,60}?)(?::\s|\s[-–—]+\s)(.+)$", rest)
            if m2 and len(m2.group(1).split()) <= cfg.generic_prefix_max_words:
                out.append(m2.group(2).strip())
    return tuple(dict.fromkeys(v for v in out if v))


_CITY_SUFFIX = re.compile(r"\s+(?:im|am|an der|a\.?\s?d\.?|bei|ob der|in der|\()\s*.*$")


def city_base(city_norm: str) -> str:
    """'gutach im breisgau' -> 'gutach'; 'riegel am kaiserstuhl' -> 'riegel'.

    Sources print the short and the official long name interchangeably
    (§17 item 4: "Gutach" != "Gutach im Breisgau").
    """
    return _CITY_SUFFIX.sub("", city_norm).strip()


@functools.lru_cache(maxsize=16)
def _aliases(cfg: NormalizationConfig) -> dict[str, str]:
    return {city_base(norm_text(k, cfg)): city_base(norm_text(v, cfg)) for k, v in cfg.city_aliases}


def city_keys(names: Iterable[str | None], cfg: NormalizationConfig) -> tuple[str, ...]:
    """Normalised comparison keys of a place: base names after district aliases."""
    names = tuple(names)
    memo = _memo(cfg)
    key = ("c", names)
    if key not in memo:
        memo[key] = _city_keys(names, cfg)
    return memo[key]  # type: ignore[return-value]


def _city_keys(names: tuple[str | None, ...], cfg: NormalizationConfig) -> tuple[str, ...]:
    aliases = _aliases(cfg)
    out: list[str] = []
    for name in names:
        base = city_base(norm_text(name, cfg))
        if not base:
            continue
        out.append(aliases.get(base, base))
    return tuple(dict.fromkeys(out))


def place_words(names: Iterable[str | None], cfg: NormalizationConfig) -> frozenset[str]:
    """Tokens naming the listing's own place, incl. the adjective form ("Kollnauer").

    Titles often add or drop the town ("Nachtumzug" / "Nachtumzug Sexau");
    such tokens carry no information about *which* event it is once the place
    itself is compared by the geo/city evidence.
    """
    names = tuple(names)
    memo = _memo(cfg)
    key = ("p", names)
    if key not in memo:
        memo[key] = _place_words(names, cfg)
    return memo[key]  # type: ignore[return-value]


def _place_words(names: tuple[str | None, ...], cfg: NormalizationConfig) -> frozenset[str]:
    words: set[str] = set()
    for name in names:
        for t in tokens(norm_text(name, cfg)):
            if len(t) < 3 or t in {"im", "am", "an", "der", "bei"}:
                continue
            words.add(t)
            words.add(t + "er")
            if t.endswith("en"):
                words.add(t[:-2] + "er")  # Denzlingen -> Denzlinger
            if t.endswith("e"):
                words.add(t + "r")
    return frozenset(words)


def district_words(keys: Iterable[str], cfg: NormalizationConfig) -> frozenset[str]:
    """Names (and adjective forms) of the known districts of the given towns."""
    keys = tuple(keys)
    memo = _memo(cfg)
    key = ("d", keys)
    if key not in memo:
        memo[key] = _district_words(keys, cfg)
    return memo[key]  # type: ignore[return-value]


def _district_words(keys: tuple[str, ...], cfg: NormalizationConfig) -> frozenset[str]:
    keyset = set(keys)
    names = [k for k, v in cfg.city_aliases if city_base(norm_text(v, cfg)) in keyset]
    return place_words(names, cfg)
