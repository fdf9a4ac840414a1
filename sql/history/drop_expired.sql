SELECT history_table, partition_name, day FROM k8s_assets_drop_history(%(keep_days)s)
