-- The gallery's "most viewed" order is views, then newest, then job id (the tie-breaker that
-- keeps pages stable): the index now holds all three, so a page is read in index order with no
-- sort of equal (views, published_at) runs (measured by scripts/bench api, D-safety-5).
-- Keep in step with ../sqlite/0025_gallery_views_index.sql.
DROP INDEX publications_views;
CREATE INDEX publications_views ON publications (views DESC, published_at DESC, job_id DESC);
