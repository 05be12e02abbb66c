-- The lease's term (issue 22): the fencing token. It grows by one each time the lease passes
-- to a holder that did not hold it unexpired; renewals keep it. A store fenced with
-- (holder, term) refuses every write once the row says otherwise (bot/store/sqlite/db.py).
-- A lease taken before this migration starts at term 0; its next change of hands makes it 1.

ALTER TABLE lease ADD COLUMN term INTEGER NOT NULL DEFAULT 0;
