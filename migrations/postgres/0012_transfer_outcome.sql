-- Each provider request's outcome, once it ended (issue #22): `delivered`, or the stable error
-- code it ended with (`provider.failed`, `provider.refused`, ...). NULL while it is pending, and
-- for requests logged before this column existed. `status` still says whether it was accepted.
ALTER TABLE provider_transfers ADD COLUMN outcome TEXT;
