-- Versions of one object valid at the same moment: an ended version that ended after the current
-- row began, or one that ended before it began. Read over the versions that ended in the last day
-- (today's and yesterday's partitions): what recent merges wrote; older ones were checked then.
SELECT count(*) OVER () AS offending, namespace, name, detail FROM (
    SELECT {namespace} AS namespace, h.name,
           CASE WHEN h.valid_to < h.valid_from THEN 'version at resourceVersion ' || h.resource_version
                                                  || ' ends before it begins'
                ELSE 'version at resourceVersion ' || h.resource_version || ' ended ' || h.valid_to
                     || ', after the current version (' || t.resource_version || ') began ' || t.valid_from
           END AS detail
    FROM {history} h
    LEFT JOIN {table} t ON t.cluster_uid = h.cluster_uid AND t.uid = h.uid
    WHERE h.cluster_uid = %(cluster_uid)s AND h.valid_to > now() - interval '1 day'
      AND (h.valid_to < h.valid_from OR h.valid_to > t.valid_from)
) d
ORDER BY namespace, name
LIMIT 5
