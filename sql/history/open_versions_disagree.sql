-- Current rows without an open version at the same resourceVersion, and open versions
-- without a current row: the history must describe the present exactly.
SELECT count(*) OVER () AS offending, namespace, name, detail FROM (
    SELECT {namespace} AS namespace, coalesce(t.name, h.name) AS name,
           CASE WHEN h.uid IS NULL THEN 'current row has no open version'
                WHEN t.uid IS NULL THEN 'open version of an object that is not current'
                ELSE 'open version at resourceVersion ' || h.resource_version || ', current row at '
                     || t.resource_version END AS detail
    FROM (SELECT * FROM {table} WHERE cluster_uid = %(cluster_uid)s) t
    FULL JOIN (SELECT * FROM {history} WHERE cluster_uid = %(cluster_uid)s AND valid_to IS NULL) h
           ON h.uid = t.uid
    WHERE t.uid IS NULL OR h.uid IS NULL OR t.resource_version IS DISTINCT FROM h.resource_version
) d
ORDER BY namespace, name
LIMIT 5
