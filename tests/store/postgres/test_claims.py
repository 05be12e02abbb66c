"""Claims on PostgreSQL: ``FOR UPDATE SKIP LOCKED``. A row another transaction holds is
passed over at once (its holder decides it), not waited for; once free it is claimed."""

from __future__ import annotations

import asyncio

from ..conftest import T0, planned


async def test_a_claim_passes_over_a_row_another_transaction_holds(store, sql):
    await store.outbox.reconcile([planned("recap:a")], scope="recap:", now=T0)
    async with sql.transaction():
        await sql.execute("SELECT 1 FROM outbox WHERE key = 'recap:a' FOR UPDATE")
        # not blocked behind the lock: answered at once, and nothing claimed
        assert await asyncio.wait_for(store.outbox.claim("recap:a", T0), timeout=5) is None
        assert (await store.outbox.get("recap:a")).attempts == 0
    claimed = await store.outbox.claim("recap:a", T0)
    assert claimed is not None and claimed.attempts == 1
