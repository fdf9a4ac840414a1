"""The ``k8s-assets`` command: simulate, migrate, demo, dev."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="k8s-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from k8s_assets.simulator import cli as simulator_cli

    simulator_cli.add_parser(sub)

    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
