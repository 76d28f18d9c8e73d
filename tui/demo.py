"""A small, fixed picture of a busy daemon: the data behind snapshots and screenshots.

Everything here is constant (ids, times, scores) so that rendering it gives
byte-identical SVGs; :data:`NOW` is the clock the console is given with it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tui.fake import FakeBackend

NOW = dt.datetime(2025, 6, 14, 10, 30, 0, tzinfo=dt.UTC)
URL = "ws://127.0.0.1:8080/ws"


def clock() -> dt.datetime:
    return NOW


def _at(minutes_ago: float) -> str:
    return (NOW - dt.timedelta(minutes=minutes_ago)).isoformat()


def _actor(
    name: str, state: str, restarts: int = 0, policy: str = "permanent", error: str | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "state": state,
        "restarts": restarts,
        "restart_policy": policy,
        "last_error": error,
        "last_error_at": _at(12) if error else None,
        "since": _at(95 if not restarts else 12),
    }


ACTORS = [
    _actor("http", "running"),
    _actor("migrator", "completed", policy="transient"),
    _actor("feed", "running"),
    _actor("processor", "running", restarts=1, error="OperationalError: connection to server lost"),
    _actor("watcher", "backing-off", restarts=2, error="OSError: inotify watch limit reached"),
]

STATUS = {
    "actors": ACTORS,
    "counters": {
        "files_processed": 128,
        "files_failed": 3,
        "events": 4210,
        "canonicals": 2875,
        "review_open": 14,
        "review_per_1000": 3,
        "resolver_today": 9,
        "dead_letters": 3,
    },
    "feed": {"head": 9840, "clients": 2},
    "replica": "eventdedup-0",
}

_SOURCES = ("kulturkalender", "stadtportal", "ticketshop", "vereinsnetz")


def _processed(seq: int, minutes_ago: float, n: int, accepted: int, source: str) -> dict[str, Any]:
    return {
        "seq": 0,
        "type": "file.processed",
        "at": _at(minutes_ago),
        "data": {
            "file": f"{source}_{seq:05d}.json",
            "file_id": seq // 3,
            "hash": f"{seq:064x}"[:64],
            "source": source,
            "events": n,
            "events_accepted": accepted,
            "events_rejected": n - accepted,
            "events_skipped": 0,
            "duration_ms": 40 + n * 3,
            "rejected": [],
        },
    }


def _feed() -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    seq = 9800
    # a throughput history: one processed file every ~1.5 minutes, varying sizes
    sizes = [12, 30, 8, 45, 22, 60, 18, 33, 51, 9, 27, 40, 14, 70, 36, 25, 48, 11, 29, 55]
    for i, size in enumerate(sizes):
        seq += 1
        messages.append(
            _processed(seq, 29 - i * 1.4, size, size - (i % 3), _SOURCES[i % len(_SOURCES)])
        )
    tail: list[tuple[str, float, dict[str, Any]]] = [
        ("actor.status", 12.0, ACTORS[3] | {"state": "backing-off", "restarts": 1}),
        ("actor.status", 11.9, ACTORS[3]),
        ("file.accepted", 2.2, {"file": "stadtportal_0612.json", "size": 48213}),
        (
            "canonical.created",
            2.0,
            {
                "canonical_id": 2874,
                "title": "Sommerfest im Bürgerpark",
                "city": "Bremen",
                "first_date": "2025-07-05",
                "source_count": 1,
                "version": 1,
                "members": ["sp-9912"],
            },
        ),
        (
            "canonical.updated",
            1.9,
            {
                "canonical_id": 1042,
                "title": "Jazz am Hafen",
                "city": "Hamburg",
                "first_date": "2025-06-21",
                "source_count": 3,
                "version": 4,
                "members": ["kk-1", "sp-7", "ts-3"],
                "changed": ["source_count", "description"],
            },
        ),
        (
            "review.flagged",
            1.8,
            {
                "review_id": 77,
                "kind": "uncertain_pair",
                "event_ids": ["sp-5530", "kk-8812"],
                "uncertainty": 0.48,
                "reason": "title similar, dates differ by one day",
            },
        ),
        (
            "file.duplicate",
            1.5,
            {
                "file": "ticketshop_0611.json",
                "hash": "ab" * 32,
                "duplicate_of": "ticketshop_0610.json",
                "file_id": 411,
            },
        ),
        (
            "file.failed",
            1.2,
            {
                "file": "vereinsnetz_0613.json",
                "file_id": 412,
                "hash": "cd" * 32,
                "reason": "not valid JSON: line 1 column 7",
                "json_path": None,
            },
        ),
        ("canonical.merged", 0.8, {"canonical_id": 1042, "merged": 2811}),
        ("actor.status", 0.5, ACTORS[4]),
    ]
    for kind, ago, data in tail:
        messages.append({"seq": 0, "type": kind, "at": _at(ago), "data": data})
    messages.sort(key=lambda m: m["at"])
    for index, message in enumerate(messages, start=9811):
        message["seq"] = index
    return messages


FEED = _feed()

EVENTS: list[dict[str, Any]] = [
    {
        "id": 1042,
        "title": "Jazz am Hafen",
        "city": "Hamburg",
        "first_date": "2025-06-21",
        "last_date": "2025-06-22",
        "dates": [
            {
                "date": "2025-06-21",
                "start_time": "19:00:00",
                "end_time": "22:00:00",
                "end_date": None,
            },
            {"date": "2025-06-22", "start_time": "19:00:00", "end_time": None, "end_date": None},
        ],
        "categories": ["music"],
        "source_count": 3,
        "match_confidence": 0.93,
        "needs_review": False,
        "version": 4,
    },
    {
        "id": 2874,
        "title": "Sommerfest im Bürgerpark",
        "city": "Bremen",
        "first_date": "2025-07-05",
        "last_date": "2025-07-05",
        "categories": ["family"],
        "source_count": 1,
        "match_confidence": None,
        "needs_review": False,
        "version": 1,
    },
    {
        "id": 1877,
        "title": "Lange Nacht der Museen",
        "city": "Hamburg",
        "first_date": "2025-06-28",
        "last_date": "2025-06-29",
        "categories": ["culture"],
        "source_count": 4,
        "match_confidence": 0.88,
        "needs_review": True,
        "version": 6,
    },
    {
        "id": 903,
        "title": "Flohmarkt Schanzenviertel",
        "city": "Hamburg",
        "first_date": "2025-06-15",
        "last_date": "2025-06-15",
        "categories": ["market"],
        "source_count": 2,
        "match_confidence": 0.97,
        "needs_review": False,
        "version": 2,
    },
    {
        "id": 1500,
        "title": "Kinderkino: Die Biene Maja",
        "city": "Lübeck",
        "first_date": "2025-06-18",
        "last_date": "2025-06-18",
        "categories": ["film", "kids"],
        "source_count": 2,
        "match_confidence": 0.71,
        "needs_review": True,
        "version": 3,
    },
    {
        "id": 2210,
        "title": "Stadtführung Speicherstadt",
        "city": "Hamburg",
        "first_date": "2025-06-16",
        "last_date": "2025-09-30",
        "categories": ["tour"],
        "source_count": 1,
        "match_confidence": None,
        "needs_review": False,
        "version": 1,
    },
]

DETAIL = {
    "canonical": {
        "id": 1042,
        "title": "Jazz am Hafen",
        "location_city": "Hamburg",
        "location_name": "Hafenbühne St. Pauli",
        "first_date": "2025-06-21",
        "last_date": "2025-06-22",
        "dates": [
            {
                "date": "2025-06-21",
                "start_time": "19:00:00",
                "end_time": "22:00:00",
                "end_date": None,
            },
            {"date": "2025-06-22", "start_time": "19:00:00", "end_time": None, "end_date": None},
        ],
        "categories": ["music"],
        "source_count": 3,
        "match_confidence": 0.93,
        "needs_review": False,
        "version": 4,
        "provenance": {
            "title": "kk-1",
            "location_name": "sp-7",
            "location_city": "kk-1",
            "first_date": "ts-3",
            "description": "sp-7",
        },
    },
    "sources": [
        {
            "id": "kk-1",
            "source_code": "kulturkalender",
            "source_type": "calendar",
            "title": "Jazz am Hafen",
            "short_description": "Open-Air-Jazz an zwei Abenden",
            "location_name": "Hafenbühne",
            "location_city": "Hamburg",
            "dates": [
                {
                    "date": "2025-06-21",
                    "start_time": "19:00:00",
                    "end_time": "22:00:00",
                    "end_date": None,
                },
                {
                    "date": "2025-06-22",
                    "start_time": "19:00:00",
                    "end_time": None,
                    "end_date": None,
                },
            ],
            "file": "kulturkalender_09801.json",
        },
        {
            "id": "sp-7",
            "source_code": "stadtportal",
            "source_type": "portal",
            "title": "Jazz am Hafen 2025",
            "short_description": "Konzerte direkt am Wasser",
            "location_name": "Hafenbühne St. Pauli",
            "location_city": "Hamburg",
            "dates": [
                {"date": "2025-06-21", "start_time": "19:30:00", "end_time": None, "end_date": None}
            ],
            "file": "stadtportal_09805.json",
        },
        {
            "id": "ts-3",
            "source_code": "ticketshop",
            "source_type": "tickets",
            "title": "JAZZ AM HAFEN – Tag 1",
            "short_description": "Tickets ab 18 €",
            "location_name": "St. Pauli Hafenbühne",
            "location_city": "Hamburg",
            "dates": [
                {
                    "date": "2025-06-21",
                    "start_time": "19:00:00",
                    "end_time": "21:00:00",
                    "end_date": None,
                }
            ],
            "file": "ticketshop_09811.json",
        },
    ],
    "decisions": [
        {
            "a_id": "kk-1",
            "b_id": "sp-7",
            "date": 0.95,
            "geo": 1.0,
            "title": 0.91,
            "description": 0.42,
            "combined": 0.9,
            "decision": "match",
            "reason": "same venue and day, near-identical title",
        },
        {
            "a_id": "kk-1",
            "b_id": "ts-3",
            "date": 1.0,
            "geo": 0.97,
            "title": 0.78,
            "description": 0.12,
            "combined": 0.81,
            "decision": "match",
            "reason": "same start time, title after normalisation",
        },
        {
            "a_id": "sp-7",
            "b_id": "ts-3",
            "date": 0.9,
            "geo": 0.97,
            "title": 0.74,
            "description": 0.08,
            "combined": 0.76,
            "decision": "match",
            "reason": "transitive via kk-1",
        },
    ],
    "reviews": [
        {
            "review_id": 31,
            "kind": "merge",
            "event_ids": ["kk-1", "ts-3"],
            "resolution": "merged",
            "decided_by": "resolver:llm",
            "resolver": {
                "name": "llm",
                "same": True,
                "confidence": 0.94,
                "reason": "same concert; the ticket shop lists the support act first",
            },
            "resolved_at": _at(30),
        }
    ],
}


def _signals(date: float, geo: float, title: float, description: float, reason: str) -> dict:
    combined = round(0.3 * date + 0.2 * geo + 0.35 * title + 0.15 * description, 2)
    return {
        "date": date,
        "geo": geo,
        "title": title,
        "description": description,
        "combined": combined,
        "decision": "ambiguous",
        "reason": reason,
    }


REVIEWS = [
    {
        "id": 77,
        "kind": "merge",
        "state": "open",
        "event_ids": ["sp-5530", "kk-8812"],
        "uncertainty": 0.52,
        "probability": 0.52,
        "benefit": 1.04,
        "moves": "merge would join 3 and 2 listings",
        "signals": _signals(0.5, 1.0, 0.86, 0.4, "ambiguous: combined 0.70"),
        "reason": "merge? P(same) 0.52: would join 3 and 2 listings",
        "created_at": _at(1.8),
        "events": [
            {
                "id": "sp-5530",
                "title": "Kinderkino: Die Biene Maja",
                "city": "Lübeck",
                "dates": [
                    {
                        "date": "2025-06-18",
                        "start_time": "15:00:00",
                        "end_time": None,
                        "end_date": None,
                    }
                ],
                "source_code": "stadtportal",
                "canonical_id": 1500,
            },
            {
                "id": "kk-8812",
                "title": "Kinderkino – Biene Maja",
                "city": "Lübeck",
                "dates": [
                    {
                        "date": "2025-06-19",
                        "start_time": "15:00:00",
                        "end_time": None,
                        "end_date": None,
                    }
                ],
                "source_code": "kulturkalender",
                "canonical_id": 2950,
            },
        ],
    },
    {
        "id": 61,
        "kind": "split",
        "state": "open",
        "event_ids": ["ts-440", "kk-77"],
        "uncertainty": 0.41,
        "probability": 0.59,
        "benefit": 0.41,
        "moves": "split would take 1 of 4 listings out",
        "signals": _signals(0.9, 1.0, 0.45, 0.2, "match: key words covered"),
        "reason": "split? P(same) 0.59: would take kk-77 out of a cluster of 4",
        "created_at": _at(40),
        "events": [
            {
                "id": "ts-440",
                "title": "Lange Nacht der Museen",
                "city": "Hamburg",
                "dates": [
                    {
                        "date": "2025-06-28",
                        "start_time": "18:00:00",
                        "end_time": "23:59:00",
                        "end_date": None,
                    }
                ],
                "source_code": "ticketshop",
                "canonical_id": 1877,
            },
            {
                "id": "kk-77",
                "title": "Museumsnacht Hamburg",
                "city": "Hamburg",
                "dates": [
                    {
                        "date": "2025-06-28",
                        "start_time": None,
                        "end_time": None,
                        "end_date": "2025-06-29",
                    }
                ],
                "source_code": "kulturkalender",
                "canonical_id": 1877,
            },
        ],
    },
    {
        "id": 58,
        "kind": "merge",
        "state": "open",
        "event_ids": ["vn-12", "sp-901"],
        "uncertainty": 0.38,
        "probability": 0.38,
        "benefit": 0.38,
        "moves": "merge would join 1 and 1 listings",
        "signals": _signals(1.0, 1.0, 0.31, 0.1, "ambiguous: combined 0.62"),
        "reason": "merge? P(same) 0.38: would join 1 and 1 listings",
        "created_at": _at(55),
        "events": [
            {
                "id": "vn-12",
                "title": "Sommerkonzert Chor",
                "city": "Kiel",
                "dates": [
                    {
                        "date": "2025-07-02",
                        "start_time": "20:00:00",
                        "end_time": None,
                        "end_date": None,
                    }
                ],
                "source_code": "vereinsnetz",
                "canonical_id": 2990,
            },
            {
                "id": "sp-901",
                "title": "Chorkonzert im Dom",
                "city": "Kiel",
                "dates": [
                    {
                        "date": "2025-07-02",
                        "start_time": "20:00:00",
                        "end_time": None,
                        "end_date": None,
                    }
                ],
                "source_code": "stadtportal",
                "canonical_id": 2991,
            },
        ],
    },
]

#: Items resolvers settled (the "decided by resolvers" view).
RESOLVED_REVIEWS = [
    {
        "id": 49,
        "kind": "merge",
        "state": "resolved",
        "event_ids": ["sp-77", "kk-2"],
        "uncertainty": 0.47,
        "probability": 0.47,
        "benefit": 0.47,
        "moves": "merge would join 1 and 1 listings",
        "signals": _signals(1.0, 1.0, 0.7, 0.3, "ambiguous: combined 0.74"),
        "reason": "merge? P(same) 0.47: would join 1 and 1 listings",
        "resolution": "merged",
        "decided_by": "resolver:llm",
        "resolver": {
            "name": "llm",
            "same": True,
            "confidence": 0.93,
            "reason": "same reading, same library, same evening; B abbreviates the title",
        },
        "created_at": _at(80),
        "events": [
            {
                "id": "sp-77",
                "title": "Lesung: Nachtzug nach Lissabon",
                "city": "Kiel",
                "dates": ["2025-06-20"],
                "source_code": "stadtportal",
                "canonical_id": 1600,
            },
            {
                "id": "kk-2",
                "title": "Lesung Nachtzug",
                "city": "Kiel",
                "dates": ["2025-06-20"],
                "source_code": "kulturkalender",
                "canonical_id": 1600,
            },
        ],
    },
]


def _reviews(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("state", "open") == "open":
        items = REVIEWS
    else:
        wanted = params.get("decided_by")
        items = [
            i
            for i in RESOLVED_REVIEWS
            if i["state"] == params.get("state")
            and (wanted is None or str(i["decided_by"]).startswith(wanted))
        ]
    return {"items": items, "total": len(items), "page": 1, "size": 50}


DEAD_LETTERS = [
    {
        "file": "vereinsnetz_0613.json",
        "reason": "not valid JSON: line 1 column 7",
        "json_path": None,
        "hash": "cd" * 32,
        "at": _at(1.2),
        "size": 1822,
    },
    {
        "file": "ticketshop_0598.json",
        "reason": "schema: 'events' is a required property",
        "json_path": "$",
        "hash": "ef" * 32,
        "at": _at(300),
        "size": 950,
    },
    {
        "file": "stadtportal_0550.json",
        "reason": "too many events (12000 > 10000)",
        "json_path": "$.events",
        "hash": "01" * 32,
        "at": _at(2000),
        "size": 50_331_648,
    },
]

CONFIG = {
    "source": "packaged default_matching.yaml",
    "matching": {
        "weights": {"date": 0.3, "geo": 0.25, "title": 0.35, "description": 0.1},
        "thresholds": {"match": 0.75, "review_low": 0.55, "review_high": 0.8},
        "blocking": {"date_window_days": 3, "geo_radius_km": 5.0},
        "guards": {"max_cluster_size": 12, "min_title_similarity": 0.4},
    },
}


def _search(params: dict[str, Any]) -> dict[str, Any]:
    q = str(params.get("q") or "").lower()
    items = [e for e in EVENTS if q in e["title"].lower() or q in (e["city"] or "").lower()]
    key = {
        "title": "title",
        "city": "city",
        "source_count": "source_count",
        "confidence": "match_confidence",
    }.get(params.get("sort") or "date", "first_date")
    items.sort(
        key=lambda e: (e[key] is None, e[key] if e[key] is not None else 0),
        reverse=params.get("order") == "desc",
    )
    size = int(params.get("size") or 25)
    page = int(params.get("page") or 1)
    return {
        "items": items[(page - 1) * size : page * size],
        "total": len(items),
        "page": page,
        "size": size,
    }


def _get(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("id") in (1042, 2811):
        return DETAIL | ({"redirected_from": 2811} if params["id"] == 2811 else {})
    for event in EVENTS:
        if event["id"] == params.get("id"):
            canonical = dict(event)
            return {"canonical": canonical, "sources": [], "decisions": []}
    from eventdedup.client import RpcError

    raise RpcError(-32004, f"no canonical event {params.get('id')}")


def results() -> dict[str, Any]:
    """Method → canned answer, as :class:`~tui.fake.FakeBackend` takes them."""
    return {
        "status": STATUS,
        "events.search": _search,
        "events.get": _get,
        "review.list": _reviews,
        "review.merge": {"surviving_canonical_id": 1500, "merged_canonical_id": 2950},
        "review.keep_separate": {"a_canonical_id": 1500, "b_canonical_id": 2950},
        "review.split": {"canonical_id": 1500, "new_canonical_id": 3001},
        "review.dismiss": {"review_id": 77, "state": "dismissed"},
        "review.undo": {"undone": 501, "action": "review.merge"},
        "deadletters.list": {"items": DEAD_LETTERS},
        "deadletters.retry": {
            "file": "vereinsnetz_0613.json",
            "moved_to": "inbox/vereinsnetz_0613.json",
        },
        "config.get": CONFIG,
        "actor.restart": {"name": "watcher", "state": "starting"},
    }


def demo_backend(*, connected: bool = True) -> FakeBackend:
    return FakeBackend(results(), FEED, connected=connected, url=URL)
