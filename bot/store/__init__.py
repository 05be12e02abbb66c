"""SQLite persistence (aiosqlite): the outbox, bot state, the audit trail. No SQL elsewhere."""

from bot.store.db import StoreError
from bot.store.outbox import DuplicateKeyError, Outbox, ReconcileReport
from bot.store.state import Audit, AuditEntry, State
from bot.store.store import Store

__all__ = [
    "Audit",
    "AuditEntry",
    "DuplicateKeyError",
    "Outbox",
    "ReconcileReport",
    "State",
    "Store",
    "StoreError",
]
