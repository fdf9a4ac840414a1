-- Controlling owner references that do not resolve to a stored object, for owner kinds this
-- cluster's last sync listed completely (the WHERE below holds one owner_missing.sql per
-- owner table). Also counts all references, and those whose owner kind is not synced.
WITH refs AS MATERIALIZED (
    {refs}
), dangling AS (
    SELECT r.namespace, r.name,
           'owner ' || coalesce(r.owner_kind, '?') || ' ' || coalesce(r.owner_name, '?')
               || ' (uid ' || coalesce(r.owner_uid::text, '?') || ') not stored' AS detail
    FROM refs r
    WHERE {dangling}
), examples AS (
    SELECT count(*) OVER () AS offending, namespace, name, detail
    FROM dangling
    ORDER BY namespace, name
    LIMIT 5
)
SELECT 'dangling' AS category, offending, namespace, name, detail FROM examples
UNION ALL
SELECT 'references', count(*), NULL, NULL, NULL FROM refs
UNION ALL
SELECT 'not_synced', count(*), NULL, NULL, coalesce(r.owner_kind, '?') FROM refs r
WHERE NOT coalesce(r.owner_kind = ANY (%(resolvable_kinds)s::text[]), false)
GROUP BY r.owner_kind
