SELECT count(DISTINCT image), count(DISTINCT registry) FROM k8s_container_images WHERE cluster_uid = %(cluster_uid)s
