"""One load of a cluster's pods by dlt, the best generic loader with merges (the comparison in bench_dlt.py).

    python benchmarks/dlt_child.py --kubeconfig K --url URL --out result.json --workdir DIR

Lists pods the way k8s-assets does (raw JSON pages through the kubernetes client's request
machinery, orjson, ``managedFields`` dropped) and hands dlt one dict per pod with the columns
k8s-assets stores for a pod's identity, plus the whole object as ``json`` (jsonb on
PostgreSQL), merged by ``(cluster_uid, uid)`` with dlt's ``upsert`` strategy. dlt deletes no
stale row here (it needs an explicit hard-delete column), which only favours it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dlt  # noqa: E402
import orjson  # noqa: E402
from common import api_and_cluster, child_arguments  # noqa: E402

from k8s_assets.kube.listing import send_get  # noqa: E402

PAGE_SIZE = 500


def pod_pages(api, timeout: float = 120.0):
    """Every page of the cluster's pods, as parsed JSON."""
    token = None
    while True:
        query = [("limit", str(PAGE_SIZE))] + ([("continue", token)] if token else [])
        page = orjson.loads(send_get(api, "/api/v1/pods", query, timeout).read())
        yield page
        token = page["metadata"].get("continue")
        if not token:
            return


def main(argv=None) -> int:
    parser = child_arguments("one dlt merge load of the cluster's pods")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--loader-file-format", default=None,
                        help="dlt's loader file format (default: dlt's default for postgres)")
    args = parser.parse_args(argv)
    api, cluster_uid = api_and_cluster(args.kubeconfig, args.partition)

    listed = 0

    @dlt.resource(name="pods", primary_key=("cluster_uid", "uid"),
                  write_disposition={"disposition": "merge", "strategy": "upsert"},
                  max_table_nesting=0,
                  columns={"raw": {"data_type": "json"}, "labels": {"data_type": "json"},
                           "annotations": {"data_type": "json"}})
    def pods():
        nonlocal listed
        for page in pod_pages(api):
            for item in page["items"]:
                metadata = item["metadata"]
                metadata.pop("managedFields", None)
                listed += 1
                yield {
                    "cluster_uid": cluster_uid, "uid": metadata["uid"], "name": metadata["name"],
                    "namespace": metadata.get("namespace"), "labels": metadata.get("labels"),
                    "annotations": metadata.get("annotations"), "created_at": metadata.get("creationTimestamp"),
                    "resource_version": metadata.get("resourceVersion"),
                    "node_name": (item.get("spec") or {}).get("nodeName"),
                    "phase": (item.get("status") or {}).get("phase"), "raw": item,
                }

    # dlt requires a password in its credentials; the benchmark's server trusts loopback and ignores it.
    url = urlsplit(args.url)
    if url.password is None:
        url = url._replace(netloc=f"{url.username or 'postgres'}:unused@{url.hostname}:{url.port}")
    pipeline = dlt.pipeline(pipeline_name="k8s_pods", destination=dlt.destinations.postgres(credentials=urlunsplit(url)),
                            dataset_name="dlt_k8s", pipelines_dir=str(Path(args.workdir) / "dlt_pipelines"))
    started = time.perf_counter()
    run_args = {"loader_file_format": args.loader_file_format} if args.loader_file_format else {}
    info = pipeline.run(pods(), **run_args)
    seconds = time.perf_counter() - started
    Path(args.out).write_text(json.dumps({"success": not info.has_failed_jobs, "job_seconds": seconds,
                                          "listed": listed}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
