-- How PostgreSQL spells each catalog type ('timestamptz' is 'timestamp with time zone').
SELECT t, format_type(t::regtype, NULL) FROM unnest(%(types)s::text[]) AS t
