-- Stock and library pictures offered for a storyboard's scenes (issue 25). A search answers
-- candidates from the media library, the owner's uploads, Pexels and Pixabay; each is kept here
-- under an id of the server's, and a storyboard scene names a pick only by that id, so a client
-- can never make the worker fetch a URL of its choosing or use another user's pick. `job_id` is
-- the draft's id, which becomes the job's: there is no job row to reference while it is a
-- draft, so the rows are deleted with the draft, the job or the owner.
CREATE TABLE stock_offers (
    id             TEXT PRIMARY KEY,
    job_id         TEXT NOT NULL,
    owner_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scene          BIGINT NOT NULL,
    source         TEXT NOT NULL,
    candidate_json TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX stock_offers_job ON stock_offers (job_id, owner_id);
-- A search made while the storyboard is a draft is logged before it leaves (P-TP-4) with no
-- job yet; `draft_id` names the draft so the transfers join the job's log once it renders.
ALTER TABLE provider_transfers ADD COLUMN draft_id TEXT;
CREATE INDEX provider_transfers_draft ON provider_transfers (draft_id);
