COPY k8s_stage_keys (uid, resource_version) FROM STDIN
