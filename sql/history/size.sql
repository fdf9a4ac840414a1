-- Rows and bytes of every history table (all partitions).
SELECT t.kind, t.history_table, t.kept_since,
       (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i
        WHERE i.inhparent = t.history_table::regclass)::bigint AS bytes
FROM k8s_history_tables t ORDER BY t.kind
