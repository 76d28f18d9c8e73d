"""The learned resolver against an operator who answers the queue from the ground truth."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventdedup.actors.resolver import ResolverChain, maybe_retrain, run_pass
from eventdedup.admin.metrics import Metrics
from eventdedup.config import load_settings
from eventdedup.db.engine import Database
from eventdedup.runner import train_learned
from tests.resolver.helpers import answer_from_truth, ingest, open_items, source


@pytest.mark.trio
async def test_operator_shrinks_the_queue_and_the_learned_resolver_learns(
    corpus_files: list[Path], tmp_path: Path, migrated_engine: sa.Engine, database_url: str
) -> None:
    ingest(migrated_engine, corpus_files, tmp_path)
    db = Database.from_url(database_url)
    chain = ResolverChain(("learned",), confidence=0.9, retrain_every=4)
    metrics = Metrics()
    sizes = [len(open_items(migrated_engine))]
    agreements = []
    applied = 0
    unearned: list[int] = []  # decisions taken before its held-out agreement vouched for it
    answered = 0
    actions: list[str] = []
    while (items := open_items(migrated_engine)) and answered < 200:
        actions.append(answer_from_truth(migrated_engine, items[0]))
        answered += 1
        if await maybe_retrain(db, chain, metrics):
            agreements.append((chain.model.agreement, chain.model.baseline))
            done = await run_pass(db, source(), chain, metrics, "t")
            applied += done
            if not chain.model.earned(chain.confidence):
                unearned.append(done)
        sizes.append(len(open_items(migrated_engine)))
    db.dispose()
    # ``eventdedup train resolver`` retrains on every answer at once
    settings = load_settings({}, database_url=database_url, data_dir=tmp_path / "data")
    trained = await train_learned(settings)
    assert trained["decisions"] == sum(a != "review.dismiss" for a in actions) > 0
    assert trained["agreement"] >= trained["baseline"]
    print("queue", sizes, "agreement", agreements, "resolver applied", applied)
    assert unearned and not any(unearned)
    # every answer closes its item and raises no new one: the queue only shrinks
    assert sizes[-1] == 0 and all(b <= a for a, b in itertools.pairwise(sizes))
    assert answered <= sizes[0]
    # the learned model agrees with the operator at least as often as the shipped
    # calibration on every retraining, and more often at the end
    assert len(agreements) >= 3
    assert all(learned >= shipped for learned, shipped in agreements)
    assert agreements[-1][0] > agreements[-1][1]
