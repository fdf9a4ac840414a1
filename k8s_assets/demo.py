"""``k8s-assets demo``: simulated clusters, embedded PostgreSQL, every partition synced.

Runs the main job (``k8s_sync``) once per context, in this process, exactly as
``k8s-assets sync`` does, then reads a per-cluster summary back from PostgreSQL. Nothing
here needs a real cluster or server.

So that the history has something to show, the last cluster then lives through a change
(``change_something``: an image rollout, pods deleted and created, a ConfigMap edited) and is
synced once more.
"""

import os
import sys

import psycopg

from k8s_assets.kube.config import load_settings
from k8s_assets.store import database
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


def change_something(cluster) -> list[str]:
    """A small, deterministic day in a cluster's life, for the history to record."""
    import copy

    done = []
    deployment = sorted(cluster.list("deployments.apps"), key=lambda d: (d["metadata"]["namespace"],
                                                                         d["metadata"]["name"]))[0]

    def roll_out(d):
        container = d["spec"]["template"]["spec"]["containers"][0]
        repository = container["image"].split("@", 1)[0].rsplit(":", 1)[0]
        container["image"] = repository + ":2.0.0"

    cluster.modify("deployments.apps", deployment["metadata"]["name"], deployment["metadata"]["namespace"],
                   mutate=roll_out)
    done.append(f"rolled out :2.0.0 to deployment {deployment['metadata']['namespace']}/"
                f"{deployment['metadata']['name']}")
    pods = sorted(cluster.list("pods"), key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
    for victim in pods[:2]:
        cluster.delete("pods", victim["metadata"]["name"], victim["metadata"]["namespace"])
        replacement = copy.deepcopy(victim)
        replacement["metadata"] = {k: v for k, v in victim["metadata"].items()
                                   if k in ("namespace", "labels", "annotations", "ownerReferences")}
        replacement["metadata"]["name"] = victim["metadata"]["name"] + "-new"
        cluster.create("pods", replacement)
        done.append(f"replaced pod {victim['metadata']['namespace']}/{victim['metadata']['name']}")
    configmap = sorted(cluster.list("configmaps"), key=lambda c: (c["metadata"]["namespace"], c["metadata"]["name"]))[0]
    cluster.modify("configmaps", configmap["metadata"]["name"], configmap["metadata"]["namespace"],
                   mutate=lambda c: c.setdefault("data", {}).update({"demo-setting": "on"}))
    done.append(f"edited configmap {configmap['metadata']['namespace']}/{configmap['metadata']['name']}")
    return done


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
        if clusters and not failed:
            changed = clusters[-1]
            print(f"\nmeanwhile in {changed}: " + "; ".join(change_something(sim[changed])))
            failed = sync_contexts((changed,), load_settings())
    print()
    print_summary(url)
    return 1 if failed else 0
