-- A creation's own title (issue 15): NULL means "the script's first words", worked out when shown,
-- so a revision with a new script gets a new default title.
ALTER TABLE jobs ADD COLUMN title TEXT;
