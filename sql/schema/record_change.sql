INSERT INTO k8s_assets_schema_changes (catalog_digest, kind, change, statement) VALUES (%s, %s, %s, %s)
