-- A typed column the catalog gained: on the kind table, its history (every partition) and the
-- as-of function; the rows' resource_version is cleared so the next sync rewrites (and fills) them.
SELECT k8s_assets_add_kind_column(%(table)s, %(column)s, %(type)s)
