"""The daemon's actors: explicit async functions, each with explicit dependencies.

They orchestrate; they do not compute.  Matching lives in
``eventdedup.matching`` and file processing in ``eventdedup.pipeline``.
"""
