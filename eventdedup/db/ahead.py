"""Scoring ahead: a parse worker scores a file's candidate pairs before the file is committed.

The commit stage is the serial part of a backlog (one transaction after the
other), while the parse worker that prepares the next files has time to spare.
Most of a file's candidate pairs are with its own events and with the files
parsed just before it (listings of the same days), and the worker made those
records itself.  So, as it prepares a file, it also scores the pairs among the
file's events and between them and the events of the files it prepared
recently (:class:`RecentRecords`), with the same blocking test as the commit
stage (a shared prefix with overlapping slot bits), and formats each
decision's ``COPY`` line.

Nothing is decided ahead.  The commit stage still finds the candidates in the
database, under its locks; for each pair it takes a score made ahead only if
both records are the very ones it matches with: each prepared file carries a
*token*, the commit stage knows the token of every record it holds (the new
events' from their file, a stored event's from the file it cached it from, none
when read back from the database), and a score made ahead names the tokens of
its two records.  Any other pair is scored in the commit stage, as before.
``score_pair`` is a pure function of the two records and the configuration, so
the decisions are the same either way.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections import deque
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring

import attrs

from eventdedup.db.events import copy_text
from eventdedup.matching import EventRecord, MatchingConfig, PairScore, score_pair

#: A pair ``(a, b)``, ``a < b``, scored ahead: the tokens of ``a``'s and ``b``'s records,
#: the score and its ``match_decisions`` COPY line.
Ahead = tuple[str, str, PairScore, str]

#: What ``match_decisions.score`` holds: the fields that are not columns of their own.
SCORE_ONLY_FIELDS = tuple(
    f.name
    for f in attrs.fields(PairScore)
    if f.name not in ("a_id", "b_id", "decision", "combined")
)


#: a string as JSON (``json``'s own escaping, non-ASCII kept)
_string = encode_basestring

#: How many recently prepared events a worker scores a new file against.  A file's stored
#: candidates are mostly in the files just before it: with 200-event files, the last 10,000
#: events held 98.6 % of a generated corpus's pairs with stored events (docs/performance.md).
RECENT_EVENTS = 10_000

# a random prefix per process start (a process id can come back after a worker died), the
# process id (a forked process keeps the prefix), a count
_PROCESS = secrets.token_hex(8)
_tokens = itertools.count(1)


def new_token() -> str:
    """A token no other prepared file has."""
    return f"{_PROCESS}.{os.getpid()}.{next(_tokens)}"


def decision_line(s: PairScore) -> str:
    """A decision as a line of ``COPY match_decisions (a_id, b_id, decision, combined, score)``.

    ``score`` is the JSON of the fields without a column of their own, written
    directly: a float's ``repr`` is what ``json.dumps`` writes, a string goes
    through ``json``'s own escaping.  JSON escapes control characters, so the only
    character COPY needs escaped in it is the backslash.  A new field of PairScore
    must be added here (``tests/dedup/test_write_rows.py`` checks all are written).
    """
    rest = (
        f'{{"date":{s.date!r},"geo":{s.geo!r},"title":{s.title!r},'
        f'"description":{s.description!r},"reason":{_string(s.reason)},'
        f'"tier":{_string(s.tier)},"probability":{s.probability!r},'
        f'"model_version":{_string(s.model_version)}}}'
    )
    if "\\" in rest:
        rest = rest.replace("\\", "\\\\")
    return f"{copy_text(s.a_id)}\t{copy_text(s.b_id)}\t{s.decision}\t{s.combined!r}\t{rest}"


@attrs.define
class _File:
    token: str
    ids: list[str]
    entries: Mapping[str, Mapping[str, int]]


class RecentRecords:
    """The records a parse worker prepared last, by blocking prefix; bounded by events.

    One per worker process, kept between files.  An id prepared again (a file
    sent twice, a changed listing) is held with its latest record; older index
    entries of it are skipped by their token.
    """

    def __init__(self, capacity: int = RECENT_EVENTS) -> None:
        self.capacity = capacity
        self.cfg: MatchingConfig | None = None
        self._files: deque[_File] = deque()
        self._records: dict[str, tuple[str, EventRecord]] = {}
        self._index: dict[str, list[tuple[str, int, str]]] = {}
        self._size = 0

    def __len__(self) -> int:
        return len(self._records)

    def clear(self) -> None:
        self._files.clear()
        self._records.clear()
        self._index.clear()
        self._size = 0

    def partners(self, prefix: str, slots: int) -> Iterable[tuple[str, str, EventRecord]]:
        """``(id, token, record)`` of the recent events sharing a key with ``prefix``/``slots``."""
        for other, their_slots, token in self._index.get(prefix, ()):
            if their_slots & slots:
                held = self._records.get(other)
                if held is not None and held[0] == token:
                    yield other, token, held[1]

    def use(self, cfg: MatchingConfig) -> None:
        """Records prepared with another configuration are not comparable: forget them."""
        if self.cfg != cfg:
            self.clear()
            self.cfg = cfg

    def add(
        self,
        token: str,
        records: Mapping[str, EventRecord],
        entries: Mapping[str, Mapping[str, int]],
    ) -> None:
        for i, record in records.items():
            self._records[i] = (token, record)
            for prefix, slots in entries[i].items():
                self._index.setdefault(prefix, []).append((i, slots, token))
        self._files.append(_File(token, list(records), {i: entries[i] for i in records}))
        self._size += len(records)
        while self._size > self.capacity and len(self._files) > 1:
            self._drop(self._files.popleft())

    def _drop(self, old: _File) -> None:
        self._size -= len(old.ids)
        for i in old.ids:
            held = self._records.get(i)
            if held is not None and held[0] == old.token:
                del self._records[i]
            for prefix in old.entries[i]:
                kept = [x for x in self._index.get(prefix, ()) if x[2] != old.token]
                if kept:
                    self._index[prefix] = kept
                else:
                    self._index.pop(prefix, None)


def score_ahead(
    token: str,
    records: Mapping[str, EventRecord],
    entries: Mapping[str, Mapping[str, int]],
    recent: RecentRecords,
    cfg: MatchingConfig,
) -> dict[tuple[str, str], Ahead]:
    """Score a file's pairs among its own events and with ``recent``; then add it to ``recent``.

    ``records`` and ``entries`` are the file's prepared records and blocking-index
    rows (``{event: {prefix: slots}}``), ``token`` the file's.
    """
    recent.use(cfg)
    tagged: dict[str, tuple[str, EventRecord]] = {i: (token, r) for i, r in records.items()}
    pairs: dict[tuple[str, str], tuple[str, str]] = {}
    by_prefix: dict[str, list[tuple[str, int]]] = {}
    for i, e in entries.items():
        for prefix, slots in e.items():
            by_prefix.setdefault(prefix, []).append((i, slots))
    for prefix, xs in by_prefix.items():
        for n, (x, sx) in enumerate(xs):
            for y, sy in xs[n + 1 :]:
                if sx & sy and x != y:
                    pairs[(x, y) if x < y else (y, x)] = (x, y)
            for other, their_token, record in recent.partners(prefix, sx):
                if other not in records:  # the same id again: the commit stage decides
                    tagged.setdefault(other, (their_token, record))
                    pairs[(x, other) if x < other else (other, x)] = (x, other)
    out: dict[tuple[str, str], Ahead] = {}
    for a, b in sorted(pairs):
        (ta, ra), (tb, rb) = tagged[a], tagged[b]
        score = score_pair(ra, rb, cfg)
        out[(a, b)] = (ta, tb, score, decision_line(score))
    recent.add(token, records, entries)
    return out
