SELECT sum(k8s_assets_ensure_history_partitions(history_table, (now() AT TIME ZONE 'UTC')::date, 8))::int
FROM k8s_history_tables
