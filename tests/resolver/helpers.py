"""Shared by the resolver tests: a stored corpus, an operator answering from the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from eventdedup.admin import review as ops
from eventdedup.admin.config_source import ConfigSource
from eventdedup.admin.rpc import RpcError
from eventdedup.matching import load_matching_config
from eventdedup.testing import load_truth
from tests.dedup.test_incremental_db import _ingest

CFG = load_matching_config(None)


def source() -> ConfigSource:
    return ConfigSource(CFG, origin="tests")


def ingest(engine: sa.Engine, files: list[Path], tmp_path: Path) -> None:
    _ingest(engine, files, tmp_path)


def open_items(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT id, kind, a_id, b_id, resolver_at FROM review_items "
                    "WHERE state = 'open' ORDER BY benefit DESC NULLS LAST, id"
                )
            )
        )


def answer_from_truth(engine: sa.Engine, item: Any, operator: str = "sim") -> str:
    """Answer one item as an operator who knows the truth; returns the action taken."""
    truth = load_truth()
    same = truth[item.a_id] == truth[item.b_id]
    rid, a, b = item.id, item.a_id, item.b_id

    def merge(tx: ops.ReviewTx) -> dict[str, Any]:
        cids = tx.canonical_of([a, b])
        return ops.merge(tx, cids[a] or 0, cids[b] or 0, rid)

    def split(tx: ops.ReviewTx) -> dict[str, Any]:
        return ops.split(tx, tx.canonical_of([a])[a] or 0, a, None, rid)

    if item.kind == "merge":
        action, body = ("review.merge", merge) if same else ("review.keep_separate", None)
        if body is None:
            body = lambda tx: ops.keep_separate(tx, a, b, rid)  # noqa: E731
    else:
        action, body = ("review.dismiss", None) if same else ("review.split", split)
        if body is None:
            body = lambda tx: ops.dismiss(tx, rid, "belongs together")  # noqa: E731
    try:
        ops.run_review(
            engine, source(), action=action, operator=operator, replica="t", params={}, body=body
        )
    except RpcError:  # the clustering rules refuse it: nothing else to do but dismiss
        action = "review.dismiss"
        ops.run_review(
            engine,
            source(),
            action=action,
            operator=operator,
            replica="t",
            params={},
            body=lambda tx: ops.dismiss(tx, rid, "refused by the clustering rules"),
        )
    return action
