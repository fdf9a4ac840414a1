SELECT count(*) FILTER (WHERE change = 'moved') FROM k8s_stage_versions
