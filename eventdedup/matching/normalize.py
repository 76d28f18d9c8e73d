"""Text normalisation used for *live* scoring (docs/domain.md §17 items 2 and 9).

Everything here is a pure function of its input and the config. The same
function is applied to both sides of every comparison, so rewrites that are
"wrong" linguistically (``rn`` -> ``m``) are harmless: they only ever make two
renderings of one word agree.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping

import attrs

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
_SEPARATOR_DASH = re.compile(r"(?<!\w)-|-(?!\w)")
_DASHES = (" - ", " -- ", " – ", " — ")
# a short label before ":" or a spaced dash ("Termin-Tipp: ...", "Kino - ...")
_LABEL = re.compile(r"^(.{1,60}?)(?::\s|\s[-–—]+\s)(.+)$")
_LABEL_MARK = re.compile(r":\s|\s[-–—]")


def fold(text: str | None, *, ocr_fixes: bool = True) -> str:
    """Case-fold, compose, expand umlauts/ß, strip accents, repair OCR artefacts.

    Punctuation is kept (callers decide); whitespace is collapsed.
    """
    if not text:
        return ""
    s = text if text.isascii() else unicodedata.normalize("NFC", text)
    if ocr_fixes:
        if "I" in s:
            s = _OCR_CAPITAL_I.sub("l", s)
        if "-" in s:
            s = _HYPHEN_BREAK.sub("", s)
    s = s.casefold()
    # umlaut expansion, then remaining accents (café -> cafe), so ä never becomes a:
    # one translate pass with a per-character table (see _FoldTable)
    if not s.isascii():
        s = s.translate(_FOLD_TABLE)
    if ocr_fixes and "rn" in s:
        s = s.replace("rn", "m")
    # str.split() and the regex \s agree on what whitespace is (Py_UNICODE_ISSPACE)
    return " ".join(s.split())


class _FoldTable(dict[int, int | str]):
    """ord(c) -> umlaut expansion, then NFKD with combining marks dropped, per character.

    Equal to applying both to the whole string: NFKD decomposes character by
    character, and canonical reordering only permutes combining marks, which
    are dropped anyway. Filled lazily (str.translate calls ``__missing__``).
    """

    def __missing__(self, o: int) -> int | str:
        c = chr(o).translate(_UMLAUTS)
        out = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
        v: int | str = o if out == chr(o) else out
        self[o] = v
        return v


_FOLD_TABLE = _FoldTable()


def strip_punct(text: str) -> str:
    """Remove punctuation except intra-word hyphens (compound structure matters)."""
    s = _PUNCT.sub(" ", text)
    if "-" in s:
        s = _SEPARATOR_DASH.sub(" ", s)  # dashes used as separators
    return " ".join(s.split())


_MEMO_LIMIT = 200_000
# every process-wide memo of the matching core (pure results, bounded); see clear_caches
_CACHES: list[Callable[[], None]] = []


def register_cache(clear: Callable[[], None]) -> None:
    _CACHES.append(clear)


def clear_caches() -> None:
    """Drop every memoised normalisation/scoring result (benchmarks measure cold runs)."""
    for st in _STATES:
        st.memo.clear()
        st.norm.clear()
    for clear in _CACHES:
        clear()


@attrs.define(eq=False)
class _ConfigState:
    """What normalisation derives from one config: the memo, compiled synonyms, prefixes."""

    # the config object last looked up (the fast paths compare identity); equal ones
    # seen before it are ``aliases``
    cfg: NormalizationConfig
    # keyed by (tag, argument): the tag fixes the value's type, which the dict type cannot
    # say, so readers return memo[key] with a `type: ignore[return-value]`
    memo: dict[object, object]
    # (literal forms, pattern, canonical): a pattern can only match where a form occurs
    synonyms: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...]
    # any literal form of any synonym group (None: no synonyms configured)
    synonym_any: re.Pattern[str] | None
    # every "prefix + separator" a configured prefix test could accept (casefolded)
    prefix_starts: tuple[str, ...]
    # norm_text's results by text (a plain str key: no key tuple per call)
    norm: dict[str, str] = attrs.field(factory=dict)
    # other objects equal to ``cfg``, most recent first: an equal config comes as a new
    # object with every job a parse worker runs, or with every unpickled file; found by
    # identity, they are compared for equality (a walk of the large config) once each
    aliases: list[NormalizationConfig] = attrs.field(factory=list)


_STATES: list[_ConfigState] = []
_LAST: list[_ConfigState] = []
#: equal config objects a state remembers by identity
_ALIASES = 8


def _state(cfg: NormalizationConfig) -> _ConfigState:
    """Per-config state, looked up by identity (hashing the large frozen config per
    call is costly), falling back to equality so equal configs share one memo."""
    last = _LAST[0] if _LAST else None
    st: _ConfigState | None
    if last is not None and last.cfg is cfg:
        st = last
    else:
        st = next((x for x in _STATES if x.cfg is cfg), None)
        if st is None:
            st = next((x for x in _STATES if any(a is cfg for a in x.aliases)), None)
        if st is None:
            st = next((x for x in _STATES if x.cfg == cfg), None) or _new_state(cfg)
        if st.cfg is not cfg:  # the fast paths follow the object now in use
            st.aliases = [st.cfg, *(a for a in st.aliases if a is not cfg)][:_ALIASES]
            st.cfg = cfg
        _STATES[:] = [st, *(x for x in _STATES if x is not st)][:4]
        _LAST[:] = [st]
    if len(st.memo) > _MEMO_LIMIT:
        st.memo.clear()
    return st


def _new_state(cfg: NormalizationConfig) -> _ConfigState:
    plan = []
    for canonical, variants in sorted(dict(cfg.synonyms).items()):
        forms = tuple(
            sorted({fold(v, ocr_fixes=cfg.ocr_fixes) for v in (*variants, canonical) if v})
        )
        plan.append(forms)
    patterns = synonym_patterns(dict(cfg.synonyms), ocr_fixes=cfg.ocr_fixes)
    starts = [
        p.casefold() + d for p in (*cfg.dash_prefixes, *cfg.generic_prefixes) for d in _DASHES
    ]
    starts += [p.casefold() + ":" for p in cfg.colon_prefixes]
    return _ConfigState(
        cfg=cfg,
        memo={},
        synonyms=tuple((f, pat, canon) for f, (pat, canon) in zip(plan, patterns, strict=True)),
        synonym_any=(
            re.compile("|".join(re.escape(f) for forms in plan for f in forms))
            if any(plan)
            else None
        ),
        prefix_starts=tuple(starts),
    )


def _memo(cfg: NormalizationConfig) -> dict[object, object]:
    """Per-config memo of pure normalisation results (names and templates repeat a lot)."""
    if _LAST:  # _state's fast path, inlined (called several times per listing)
        st = _LAST[0]
        if st.cfg is cfg and len(st.memo) <= _MEMO_LIMIT:
            return st.memo
    return _state(cfg).memo


def norm_text(text: str | None, cfg: NormalizationConfig) -> str:
    """Folded, punctuation-free text with whole-token synonyms applied."""
    if not text:
        return ""
    st = _LAST[0] if _LAST and _LAST[0].cfg is cfg else _state(cfg)  # _state's fast path
    out = st.norm.get(text)
    if out is None:
        out = strip_punct(fold(text, ocr_fixes=cfg.ocr_fixes))
        # a synonym pattern needs one of its forms literally: one scan for all of them
        if st.synonym_any is not None and st.synonym_any.search(out):
            for _, pat, canonical in st.synonyms:
                out = pat.sub(canonical, out)
        if len(st.norm) > _MEMO_LIMIT:
            st.norm.clear()
        st.norm[text] = out
    return out


def _patterns(cfg: NormalizationConfig) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((pat, canonical) for _, pat, canonical in _state(cfg).synonyms)


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
    # str.split() and the regex \s agree on whitespace (see ``fold``): the same split
    return tuple(text.replace("-", " ").split())


def join_compounds(text: str) -> str:
    """'tanz-abend' -> 'tanzabend': hyphenated compounds compared as one word."""
    return " ".join(text.replace("-", "").split())


def prefix_variants(title: str, cfg: NormalizationConfig) -> tuple[str, ...]:
    """The raw title plus versions with a leading label removed (§2.2, §17 item 9).

    Configured prefixes are removed as in the original; in addition any short
    label (at most ``generic_prefix_max_words`` words) before ``:`` or a spaced
    dash is tried. Scoring takes the best variant pair, so stripping is always
    consistent across the two sides and can never *lower* a similarity.
    """
    t = " ".join((title or "").split())
    out = [t]
    low = t.casefold()
    if low.startswith(_state(cfg).prefix_starts):
        for p in (*cfg.dash_prefixes, *cfg.generic_prefixes):
            pl = p.casefold()
            for d in _DASHES:
                if low.startswith(pl + d):
                    out.append(t[len(pl) + len(d) :].strip())
        for p in cfg.colon_prefixes:
            pl = p.casefold()
            if low.startswith(pl + ":"):
                out.append(t[len(pl) + 1 :].strip())
    if cfg.generic_prefix_max_words and _LABEL_MARK.search(t):
        m = _LABEL.match(t)
        if m and len(m.group(1).split()) <= cfg.generic_prefix_max_words:
            rest = m.group(2).strip()
            out.append(rest)
            m2 = _LABEL.match(rest)
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
