"""What both backends share: one implementation per concern, written against `db.Db` (the
database API both backends' `Database`/`Transaction` offer, ``?`` placeholders) and a
`db.Dialect` (the few SQL fragments and row locks that differ). Each backend passes its own
`Database` and `Dialect` (its `store.py`); no driver is imported here.
"""
