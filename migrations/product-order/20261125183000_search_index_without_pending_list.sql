-- Search reads the GIN index far more often than products are added. With fastupdate (the
-- default) new rows wait in the index's pending list, which every search reads through
-- linearly until a vacuum merges it: after loading 100,000 products that is megabytes per
-- search. Without it each insert updates the index at once (a bulk load takes longer), and
-- the list left from before is merged here.
ALTER INDEX products_search_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('products_search_idx'::regclass);
