"""A separate process that claims due tasks in batches until none is left, then prints
the ids it claimed (one JSON list). Used by tests/database/test_claim_processes.py to
race several claimers on one PostgreSQL database.
Usage: python -m tests.support.claimer DATABASE_URL NODE_ID BATCH NOW_ISO
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

from database.engine import create_engine_for, session_factory
from database.repositories import tasks


async def claim_all(url: str, node_id: str, batch: int, now: datetime) -> list[int]:
    engine = create_engine_for(url, Path("."))
    sessions = session_factory(engine)
    claimed: list[int] = []
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
    try:
        while True:
            async with sessions() as s, s.begin():
                got = await tasks.claim_due(
                    s, now=now, node_id=node_id, lease=timedelta(minutes=5), limit=batch
                )
            claimed += [t.id for t in got]
            if not got:
                return claimed
    finally:
        await engine.dispose()


if __name__ == "__main__":
    db_url, node, size, at = sys.argv[1:5]
    ids = asyncio.run(claim_all(db_url, node, int(size), datetime.fromisoformat(at)))
    print(json.dumps(ids), flush=True)
