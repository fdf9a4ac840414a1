"""``k8s-assets demo``: simulated clusters, embedded PostgreSQL, every partition synced.

Runs the main job (``k8s_sync``) once per context, in this process, exactly as
``k8s-assets sync`` does, then reads a per-cluster summary back from PostgreSQL. Nothing
here needs a real cluster or server.
"""

import os
import sys

import psycopg

from k8s_assets import database
from k8s_assets.config import load_settings
from k8s_assets.sync import prepare_database, sync_contexts

SUMMARY_SQL = "views/cluster_summary.sql"


def print_summary(url: str, out=sys.stdout) -> None:
    with psycopg.connect(url) as conn:
        cur = conn.execute(database.sql_text(SUMMARY_SQL))
        names = [d.name for d in cur.description]
        rows = [[("" if v is None else str(v)) for v in row] for row in cur.fetchall()]
    widths = [max(len(n), *(len(r[i]) for r in rows)) if rows else len(n) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths)), file=out)
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)), file=out)


def run_demo(clusters: tuple[str, ...], size: str, seed: int) -> int:
    from k8s_assets.simulator import Simulator

    settings = load_settings()
    url = prepare_database(settings)
    with Simulator(clusters=clusters, size=size, seed=seed) as sim:
        kubeconfig = sim.write_kubeconfig(settings.home / "demo" / "kubeconfig")
        os.environ["KUBECONFIG"] = str(kubeconfig)
        print(f"simulated clusters: {', '.join(clusters)} (kubeconfig {kubeconfig})")
        # Settings again: the partitions are the simulated contexts just written.
        failed = sync_contexts(clusters, load_settings())
    print()
    print_summary(url)
    return 1 if failed else 0
