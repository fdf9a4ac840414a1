-- With the table's indexes, a value no index entry can hold (a 200 KB name) is refused here, row by
-- row (inventory.copy_frame), and not by the upsert, which would fail the whole merge.
CREATE TEMP TABLE k8s_stage_rows (LIKE {table} INCLUDING DEFAULTS INCLUDING COMPRESSION INCLUDING INDEXES)
    ON COMMIT DROP
