"""The ``llm`` resolver's client: an OpenAI-compatible chat-completions endpoint.

Any server speaking ``POST /v1/chat/completions`` works: a hosted API, or a
local llama.cpp server, Ollama or vLLM.  The prompt shows both listings and
the engine's signals and asks for a JSON answer ``{same, confidence, reason}``
(``response_format`` = that JSON schema; servers that ignore it still get the
schema in the prompt).  Requests are plain blocking HTTP (``urllib``), run by
the resolver actor in a worker thread with a socket timeout.

:class:`CircuitBreaker` stops asking an endpoint that keeps failing and tries
again after a cool-down; meanwhile items stay for humans.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "same": {"type": "boolean"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "reason": {"type": "string"},
    },
    "required": ["same", "confidence", "reason"],
    "additionalProperties": False,
}

SYSTEM_PROMPT = (
    "You decide whether two regional event listings describe the same real-world event "
    "(same occasion, same place, same day and time), printed by different sources. "
    "Different events at the same venue or on the same day are NOT the same. "
    "Answer only with JSON matching this schema: " + json.dumps(ANSWER_SCHEMA)
)


class EndpointError(Exception):
    """The endpoint failed (HTTP error, timeout, refused) or answered malformed JSON."""


@attrs.frozen
class LlmAnswer:
    same: bool
    confidence: float
    reason: str


def content_hash(listings: Sequence[Mapping[str, Any]], model: str) -> str:
    """The cache key: both listings' content (not their ids), in either order, and the model."""
    parts = sorted(
        json.dumps({k: v for k, v in x.items() if k != "id"}, sort_keys=True, ensure_ascii=False)
        for x in listings
    )
    return hashlib.sha256("\x1e".join([model, *parts]).encode()).hexdigest()


def build_request(
    model: str, listings: Sequence[Mapping[str, Any]], signals: Mapping[str, Any]
) -> dict[str, Any]:
    shown = [{k: v for k, v in x.items() if k != "id"} for x in listings]
    user = (
        "Listing A:\n"
        + json.dumps(shown[0] if shown else {}, ensure_ascii=False, indent=1)
        + "\n\nListing B:\n"
        + json.dumps(shown[1] if len(shown) > 1 else {}, ensure_ascii=False, indent=1)
        + "\n\nSimilarity signals from the matching engine (0-1): "
        + json.dumps(
            {k: signals.get(k) for k in ("date", "geo", "title", "description", "combined")}
        )
        + f"\nEngine's note: {signals.get('reason', '')}"
    )
    return {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "same_event", "strict": True, "schema": ANSWER_SCHEMA},
        },
    }


def parse_answer(body: bytes) -> LlmAnswer:
    """The answer in a chat-completions response; :class:`EndpointError` if malformed."""
    try:
        data = json.loads(body)
        content = data["choices"][0]["message"]["content"]
        text = content.strip()
        if text.startswith("```"):  # some local models fence their JSON
            text = text.strip("`").removeprefix("json").strip()
        answer = json.loads(text)
        same, confidence, reason = answer["same"], answer["confidence"], answer["reason"]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise EndpointError(f"malformed answer: {exc}") from None
    if not isinstance(same, bool) or not isinstance(confidence, int | float):
        raise EndpointError("malformed answer: 'same' must be a boolean, 'confidence' a number")
    if not 0.0 <= float(confidence) <= 1.0:
        raise EndpointError(f"malformed answer: confidence {confidence} outside 0-1")
    return LlmAnswer(same, float(confidence), str(reason)[:500])


@attrs.define
class LlmClient:
    url: str
    model: str
    timeout: float
    api_key: str | None = None

    @classmethod
    def from_settings(
        cls, url: str, model: str, timeout: float, api_key_file: Path | None
    ) -> LlmClient:
        key = api_key_file.read_text(encoding="utf-8").strip() if api_key_file else None
        return cls(url, model, timeout, key or None)

    def ask(self, listings: Sequence[Mapping[str, Any]], signals: Mapping[str, Any]) -> LlmAnswer:
        """One request (blocking); :class:`EndpointError` on any failure."""
        payload = json.dumps(build_request(self.model, listings, signals)).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise EndpointError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise EndpointError(f"request failed: {exc}") from None
        return parse_answer(body)


@attrs.define
class CircuitBreaker:
    """Open after ``threshold`` consecutive failures; half-open again after ``cooldown`` s."""

    threshold: int = 3
    cooldown: float = 60.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None

    def allows(self) -> bool:
        if self.opened_at is None:
            return True
        return self.clock() - self.opened_at >= self.cooldown

    @property
    def is_open(self) -> bool:
        return not self.allows()

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()
