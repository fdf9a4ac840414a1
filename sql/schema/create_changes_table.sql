-- Every statement derived from the catalog and applied by a migrate, with the catalog it came from.
CREATE TABLE IF NOT EXISTS k8s_assets_schema_changes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    applied_at     timestamptz NOT NULL DEFAULT now(),
    catalog_digest text NOT NULL,
    kind           text NOT NULL,
    change         text NOT NULL,
    statement      text NOT NULL
)
