"""The ``k8s-assets`` command: simulate, migrate, sync, watch, rbac, demo, dev."""

# Nothing here relies on PATH: whatever the command starts runs on the interpreter running it
# (sys.executable), so it works from an unactivated virtualenv and from a pipx install.

import argparse
import os
import signal
import subprocess
import sys


def _migrate(args) -> int:
    from k8s_assets.kube.config import load_settings
    from k8s_assets.store import database, migrations

    url = database.database_url(load_settings())
    if args.plan:
        print("\n".join(migrations.pending(url)) or "schema is up to date")
        return 0
    applied = migrations.migrate(url)
    print("\n".join(f"applied {name}" for name in applied) or "schema is up to date")
    return 0


def _sync(args) -> int:
    from k8s_assets.sync import run_sync

    return run_sync(tuple(p.strip() for value in args.context for p in value.split(",") if p.strip()))


def _watch(args) -> int:
    from k8s_assets.watcher import WatchOptions, run_watch

    # Unset flags keep WatchOptions' defaults, the one place they are written.
    given = {"batch_seconds": args.batch_seconds, "batch_events": args.batch_events}
    options = WatchOptions(**{name: value for name, value in given.items() if value is not None})
    return run_watch(tuple(p.strip() for value in args.context for p in value.split(",") if p.strip()), options)


def _rbac(args) -> int:
    """The RBAC documents for a sync: the catalog's (deploy/rbac*.yaml), or, with ``--context``,
    a reader role for everything that cluster serves (k8s_assets/catalog/rbac_rules.py); with ``--watch``, the
    watcher's (deploy/rbac-watch*.yaml: its own ServiceAccount, and ``watch`` as well)."""
    from k8s_assets.catalog import rbac_rules

    if args.context is None:
        secrets = args.secrets or _settings().secrets
        sys.stdout.write(rbac_rules.render_catalog(secrets, watch=args.watch))
        return 0

    from k8s_assets.kube.config import ConfigError, contexts_in
    from k8s_assets.kube.discovery import discover
    from k8s_assets.kube.listing import ListingError, api_client
    from k8s_assets.sync import one_line

    settings = _settings()
    secrets = args.secrets or settings.secrets
    known = [c.name for c in contexts_in(settings.kubeconfig)]
    if args.context not in known:
        raise ConfigError("--context", f"no context named {args.context!r} in {settings.kubeconfig_env} "
                                       f"(contexts: {', '.join(known) or 'none'})")
    api = api_client(settings.kubeconfig, args.context)
    try:
        found = discover(api, timeout=settings.request_timeout)
    except ListingError as e:
        print(f"k8s-assets: context {args.context}: cannot read what the cluster serves: {one_line(str(e))}",
              file=sys.stderr)
        return 1
    finally:
        api.close()
    sys.stdout.write(rbac_rules.render_discovered(found, args.context, secrets, watch=args.watch))
    for group, version in found.failed:
        print(f"k8s-assets: context {args.context}: discovery of {'/'.join(p for p in (group, version) if p)} "
              "failed; its resources are not in the role", file=sys.stderr)
    return 1 if found.failed else 0


def _settings():
    from k8s_assets.kube.config import load_settings

    return load_settings()


def _demo(args) -> int:
    from k8s_assets.demo import run_demo

    return run_demo(tuple(c for c in args.clusters.split(",") if c), args.size, args.seed)


def _dev(args) -> int:
    """``dagster dev`` on embedded defaults; with no kubeconfig context, on simulated clusters.

    The code location is ./workspace.yaml when there is one (the repository root), else the
    installed ``k8s_assets.definitions``; the instance is that of ``instance_home``.
    """
    from k8s_assets.dagster_edge.instance import instance_home
    from k8s_assets.kube.config import kube_contexts, load_settings
    from k8s_assets.store import database, migrations

    settings = load_settings()
    url = database.database_url(settings)
    migrations.migrate(url)
    env = {**os.environ, "K8S_ASSETS_DATABASE_URL": url, "DAGSTER_HOME": str(instance_home(settings))}
    simulator = None
    if args.simulate or not kube_contexts(settings):
        from k8s_assets.simulator import DEFAULT_CLUSTERS, Simulator

        simulator = Simulator(clusters=DEFAULT_CLUSTERS, size="small")
        simulator.start()
        env["KUBECONFIG"] = str(simulator.write_kubeconfig(settings.home / "dev" / "kubeconfig"))
        print(f"no kubeconfig context selected: serving simulated clusters {', '.join(DEFAULT_CLUSTERS)}", flush=True)
    code = ["-w", "workspace.yaml"] if os.path.isfile("workspace.yaml") else ["-m", "k8s_assets.definitions"]
    command = [sys.executable, "-m", "dagster", "dev", *code, "-h", args.host, "-p", str(args.port)]
    dagster_dev = subprocess.Popen(command, env=env)
    # `kill <pid>` stops dagster dev (and with it the webserver, daemon and code server) too.
    previous_sigterm = signal.signal(signal.SIGTERM, lambda signum, frame: dagster_dev.send_signal(signum))
    try:
        return dagster_dev.wait()
    except KeyboardInterrupt:
        dagster_dev.send_signal(signal.SIGINT)
        return dagster_dev.wait()
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        if simulator is not None:
            simulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k8s-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from k8s_assets.simulator import cli as simulator_cli

    simulator_cli.add_parser(sub)

    migrate = sub.add_parser("migrate", help="apply the numbered migrations in sql/, then the kind tables "
                                            "derived from the catalog")
    migrate.add_argument("--plan", action="store_true",
                         help="print what would be applied (the derived SQL included) and change nothing")
    migrate.set_defaults(run=_migrate)

    sync = sub.add_parser("sync", help="sync kubeconfig contexts now, one after another, in this process (no daemon)")
    sync.add_argument("--context", action="append", default=[], metavar="GLOB",
                      help="context name or glob pattern among the selected contexts (repeatable or comma-separated; "
                           "default: every selected context)")
    sync.set_defaults(run=_sync)

    watch = sub.add_parser("watch", help="keep the inventory and its history current to the event, until stopped "
                                         "(SIGINT or SIGTERM)",
                           description="Per context: list each selected kind once (or resume where the last watch "
                                       "stopped), then watch it, applying its events in small batches. The "
                                       "scheduled sync stays the reconciler.")
    watch.add_argument("--context", action="append", default=[], metavar="GLOB",
                       help="context name or glob pattern among the selected contexts (repeatable or comma-separated; "
                            "default: every selected context)")
    watch.add_argument("--batch-seconds", type=float, default=None,
                       help="apply a kind's events at most this long after the first arrived (default 0.25: "
                            "the lag target is 2 s, docs/operations.md)")
    watch.add_argument("--batch-events", type=int, default=None,
                       help="... or as soon as this many are waiting (default 5000)")
    watch.set_defaults(run=_watch)

    from k8s_assets.kube.config import SECRETS_MODES

    rbac = sub.add_parser("rbac", help="print the read-only RBAC of a sync (or with --watch, of the watcher): the "
                                       "catalog's (deploy/rbac.yaml), or with --context a ClusterRole for everything "
                                       "that cluster serves",
                          description="Print YAML for `kubectl apply -f -`: the namespace and ServiceAccount k8s-assets "
                                      "and ClusterRole k8s-assets-reader with its binding. Without --context, the "
                                      "catalog's kinds (the text of deploy/rbac.yaml, or of "
                                      "deploy/rbac-secrets-metadata.yaml with --secrets metadata); with --context, "
                                      "get and list on every resource the cluster serves with the list verb, custom "
                                      "resources included. With --watch, the same for `k8s-assets watch`: "
                                      "ServiceAccount and ClusterRole k8s-assets-watcher, with watch as well.")
    rbac.add_argument("--context", metavar="NAME", help="kubeconfig context whose API discovery decides the role "
                                                        "(its credentials must be allowed discovery; any user is)")
    rbac.add_argument("--secrets", choices=SECRETS_MODES, default=None,
                      help="secrets mode the role is for: keys (get, list) or metadata (list alone); "
                           "default: K8S_ASSETS_SECRETS, else keys")
    rbac.add_argument("--watch", action="store_true",
                      help="the RBAC of `k8s-assets watch` instead: ServiceAccount and ClusterRole "
                           "k8s-assets-watcher, the same verbs plus watch (the text of deploy/rbac-watch.yaml, "
                           "or of deploy/rbac-watch-secrets-metadata.yaml with --secrets metadata); the sync's "
                           "account k8s-assets is left as it is")
    rbac.set_defaults(run=_rbac)

    demo = sub.add_parser("demo", help="sync simulated clusters into the embedded database and print a summary")
    demo.add_argument("--clusters", default="dev,staging,prod", help="comma-separated simulated cluster names")
    demo.add_argument("--size", default="small", help="tiny, small, medium, large, or a pod count")
    demo.add_argument("--seed", type=int, default=1)
    demo.set_defaults(run=_demo)

    dev = sub.add_parser("dev", help="dagster dev on the embedded database (simulated clusters if no kubeconfig)")
    dev.add_argument("--simulate", action="store_true", help="serve simulated clusters even if KUBECONFIG has contexts")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(run=_dev)

    args = parser.parse_args(argv)
    from k8s_assets.kube.config import ConfigError
    from k8s_assets.store.database import DatabaseUnreachable

    # What the user has to fix gets one line and an exit code of its own, not a traceback.
    try:
        return int(args.run(args) or 0)
    except ConfigError as e:
        print(f"k8s-assets: configuration error: {e}", file=sys.stderr)
        return 2
    except DatabaseUnreachable as e:
        print(f"k8s-assets: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
