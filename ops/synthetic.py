"""Write a synthetic corpus with ground truth (the generator is ``eventdedup.synth``).

uv run python ops/synthetic.py OUT_DIR --events 100000 [--seed 1] [--file-events 200]
                               [--vocab-seed K] [--hard RATE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventdedup.synth.generator import (
    GeneratedFile,
    RealEvent,
    generate,
    take,
    write_corpus,
)

__all__ = ["GeneratedFile", "RealEvent", "generate", "main", "take", "write_corpus"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file-events", type=int, default=200)
    ap.add_argument("--vocab-seed", type=int, default=None, help="generated names (default: base)")
    ap.add_argument("--hard", type=float, default=0.0, help="rate of hard look-alike groups")
    args = ap.parse_args(argv)
    n = write_corpus(
        args.out,
        args.events,
        seed=args.seed,
        file_events=args.file_events,
        vocab_seed=args.vocab_seed,
        hard_rate=args.hard,
    )
    print(f"wrote {n} files, {args.events} events to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
