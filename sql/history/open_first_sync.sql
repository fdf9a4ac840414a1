-- A cluster's first sync of a kind: every row is a version that was already there when we looked.
INSERT INTO {history} ({columns}, valid_from, began)
SELECT {columns}, now(), 'first_seen' FROM {table} WHERE cluster_uid = %(cluster_uid)s
