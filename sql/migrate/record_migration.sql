INSERT INTO k8s_assets_migrations (version, name) VALUES (%s, %s)
