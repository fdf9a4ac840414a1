-- Day partitions for the versions that end today and in the coming week, in a transaction of
-- its own before the merge (creating a partition locks the parent table).
SELECT k8s_assets_ensure_history_partitions(%(history_table)s, (now() AT TIME ZONE 'UTC')::date, 8)
