"""Schemathesis against the live daemon's /openapi.json: no input produces a server error,
and every response matches the schema the document gives for it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jsonschema
import pytest
import sqlalchemy as sa
import trio

from tests._support.auth import TOKEN, http_auth
from tests.admin.helpers import session, write_events
from tests.daemon.harness import base_url, make_settings, running_daemon

MAX_EXAMPLES = 40  # per generation mode, over all operations: bounded on a shared machine


@contextmanager
def _real_packaging() -> Iterator[None]:
    """Let schemathesis import PyPI's ``packaging`` rather than ``tests/packaging``.

    ``tests/`` has no ``__init__.py``, so pytest puts it on ``sys.path`` and the
    sibling test package ``tests/packaging`` shadows the real distribution, which
    schemathesis imports lazily.  Swap the real one in for the duration only.
    """
    tests_dir = Path(__file__).resolve().parents[1]
    saved_path = list(sys.path)
    saved = {k: v for k, v in sys.modules.items() if k == "packaging" or k.startswith("packaging.")}
    shadowed = any(
        str(getattr(m, "__file__", "")).startswith(str(tests_dir)) for m in saved.values()
    )
    if shadowed:
        for key in saved:
            del sys.modules[key]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != tests_dir]
    try:
        import packaging.version  # noqa: F401  (the real one, now cached for schemathesis)

        yield
    finally:
        sys.path[:] = saved_path
        if shadowed:
            for key in [k for k in sys.modules if k == "packaging" or k.startswith("packaging.")]:
                del sys.modules[key]
            sys.modules.update(saved)


def _fuzz(base: str) -> set[str]:
    """Runs in a worker thread (schemathesis is synchronous); a 5xx fails the test."""
    with _real_packaging():
        return _run_fuzz(base)


def _run_fuzz(base: str) -> set[str]:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", headers=http_auth(), timeout=30)
    seen: set[str] = set()
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

        @given(case=schema.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            seen.add(f"{case.method} {case.path}")
            case.call_and_validate(
                base_url=base,
                headers=http_auth(),
                checks=[not_a_server_error, response_schema_conformance],
                timeout=30,
            )

        run()
    return seen


@pytest.mark.trio
async def test_openapi_document_and_no_server_errors(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
    corpus_files: list[Path],
) -> None:
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN)
    async with running_daemon(settings), session(settings) as s:
        name = "fuzz_12.02.2026.json"
        write_events(corpus_files[4], settings.event_data_dir, name, limit=40)
        await s.message("file.processed", file=name, wait=60)
        async with httpx.AsyncClient(base_url=base_url(settings)) as http:
            # the description and its UI are open; the data behind them is not
            document = (await http.get("/openapi.json")).json()
            docs = await http.get("/docs")
            assert docs.status_code == 200 and "/openapi.json" in docs.text
            assert (await http.get("/api/export")).status_code == 401
            # the documented schemas describe real answers, field by field
            search = (await http.get("/api/events", headers=http_auth(), params={"size": 5})).json()
            first = search["items"][0]["id"]
            answers = {
                "/api/events": [search],
                "/api/events/{event_id}": [
                    (await http.get(f"/api/events/{first}", headers=http_auth())).json()
                ],
                "/api/export": [
                    (await http.get("/api/export", headers=http_auth())).json(),
                    (await http.get("/api/export?format=clusters", headers=http_auth())).json(),
                ],
            }
        assert document["openapi"].startswith("3.")
        assert set(document["paths"]) == {
            "/health",
            "/metrics",
            "/api/events",
            "/api/events/{event_id}",
            "/api/export",
        }
        assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
        assert document["paths"]["/health"]["get"]["security"] == []
        for path, bodies in answers.items():
            ok = document["paths"][path]["get"]["responses"]["200"]
            schema = ok["content"]["application/json"]["schema"]
            assert schema.get("properties") or schema.get("oneOf"), (path, schema)
            for body in bodies:
                jsonschema.Draft202012Validator(schema).validate(body)
        detail = answers["/api/events/{event_id}"][0]
        assert detail["sources"] and detail["canonical"]["dates"]
        params = {p["name"] for p in document["paths"]["/api/events"]["get"]["parameters"]}
        assert params == {
            "q",
            "city",
            "category",
            "date_from",
            "date_to",
            "sort",
            "order",
            "page",
            "size",
        }
        seen = await trio.to_thread.run_sync(_fuzz, base_url(settings))
    assert {
        "GET /api/events",
        "GET /api/events/{event_id}",
        "GET /api/export",
        "GET /health",
        "GET /metrics",
    } <= seen, seen
