SELECT pg_advisory_xact_lock(hashtext('k8s_container_images'), hashtext(%(cluster_uid)s::text))
