-- Issue 19: "series" now means the show alone; the reminder streams a member chooses
-- (livestream, ama, recaps) are "streams". SQLite (3.25+) renames the column inside the
-- table's CHECK constraint and primary key too, so both keep their meaning:
-- stream IN ('livestream', 'ama', 'recaps'), one row per (member_id, stream).
ALTER TABLE optin_prefs RENAME COLUMN series TO stream;
