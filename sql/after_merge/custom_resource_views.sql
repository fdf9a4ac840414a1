SELECT k8s_assets_refresh_cr_views() AS views_changed WHERE %(cluster_uid)s::uuid IS NOT NULL;
