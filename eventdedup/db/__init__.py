"""PostgreSQL storage: engine, embedded server, schema and the synchronous queries.

Everything here is synchronous SQLAlchemy 2 over psycopg 3; actors call it
through ``trio.to_thread.run_sync`` with a capacity limiter (see
``eventdedup.db.engine.Database``).
"""
