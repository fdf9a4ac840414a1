"""The ``k8s-assets`` command: simulate, migrate, demo, dev."""

import argparse
import os
import signal
import subprocess
import sys


def _migrate(args) -> int:
    from k8s_assets import database
    from k8s_assets.config import load_settings

    applied = database.migrate(database.database_url(load_settings()))
    print("\n".join(f"applied {name}" for name in applied) or "schema is up to date")
    return 0


def _demo(args) -> int:
    from k8s_assets.demo import run_demo

    return run_demo(tuple(c for c in args.clusters.split(",") if c), args.size, args.seed)


def _dev(args) -> int:
    """``dagster dev`` on embedded defaults; with no kubeconfig context, on simulated clusters."""
    from k8s_assets import database
    from k8s_assets.config import kube_contexts, load_settings

    settings = load_settings()
    url = database.database_url(settings)
    database.migrate(url)
    env = {**os.environ, "K8S_ASSETS_DATABASE_URL": url}
    if "DAGSTER_HOME" not in env and os.path.isfile("dagster.yaml"):
        env["DAGSTER_HOME"] = os.getcwd()
    simulator = None
    if args.simulate or not kube_contexts(settings):
        from k8s_assets.simulator import DEFAULT_CLUSTERS, Simulator

        simulator = Simulator(clusters=DEFAULT_CLUSTERS, size="small")
        simulator.start()
        env["KUBECONFIG"] = str(simulator.write_kubeconfig(settings.home / "dev" / "kubeconfig"))
        print(f"no kubeconfig context selected: serving simulated clusters {', '.join(DEFAULT_CLUSTERS)}")
    command = ["dagster", "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)]
    dagster_dev = subprocess.Popen(command, env=env)
    try:
        return dagster_dev.wait()
    except KeyboardInterrupt:
        dagster_dev.send_signal(signal.SIGINT)
        return dagster_dev.wait()
    finally:
        if simulator is not None:
            simulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k8s-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from k8s_assets.simulator import cli as simulator_cli

    simulator_cli.add_parser(sub)

    migrate = sub.add_parser("migrate", help="apply the numbered migrations in sql/ to the database")
    migrate.set_defaults(run=_migrate)

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
    from k8s_assets.config import ConfigError

    try:
        return int(args.run(args) or 0)
    except ConfigError as e:
        print(f"k8s-assets: configuration error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
