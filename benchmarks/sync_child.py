"""One measured sync of partition ``big``: the Dagster job ``k8s_sync``, end to end, in this process.

    python benchmarks/sync_child.py --kubeconfig K --url URL --out result.json [--profile out.pstats]

Runs the job with ``dagster.execute_job`` (as ``dagster asset materialize`` and launched runs
do) on an ephemeral instance, in this process (the job's in_process executor), and writes
the job's wall time and every asset's materialization metadata (list_seconds,
merge_seconds, counts) as JSON. The driver samples this process's resident memory.

Not ``execute_in_process``: that captures every step's output for the result object, so
each kind's DataFrame would stay alive until the job ends and inflate peak memory far
beyond a real run's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dagster as dg  # noqa: E402

from common import child_arguments  # noqa: E402
from k8s_assets_tests.pipeline import definitions  # noqa: E402
from k8s_assets.definitions import SYNC_JOB  # noqa: E402


def main(argv=None) -> int:
    parser = child_arguments("the Dagster sync job")
    parser.add_argument("--profile", help="write cProfile stats of the job here")
    parser.add_argument("--with-checks", action="store_true", help="also run the job's asset checks")
    args = parser.parse_args(argv)

    os.environ["BENCH_KUBECONFIG"], os.environ["BENCH_DATABASE_URL"] = args.kubeconfig, args.url
    os.environ["BENCH_WITH_CHECKS"] = "1" if args.with_checks else ""
    instance = dg.DagsterInstance.ephemeral()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    with dg.execute_job(dg.reconstructable(bench_job), instance=instance, raise_on_error=False,
                        tags={"dagster/partition": args.partition}) as result:
        seconds = time.perf_counter() - started
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        assets = {}
        for event in result.all_events:
            if event.event_type_value != "ASSET_MATERIALIZATION":
                continue
            m = event.event_specific_data.materialization
            assets[m.asset_key.to_user_string()] = {
                k: getattr(v, "value", v) for k, v in m.metadata.items()
                if isinstance(getattr(v, "value", v), (int, float, str, bool)) and not k.startswith("dagster/column")
            }
        failures = [str(e.event_specific_data.error.message)[:2000] for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE"]
        success = result.success
    Path(args.out).write_text(json.dumps({"success": success, "job_seconds": seconds,
                                          "assets": assets, "failures": failures}, indent=1, default=str))
    return 0 if success else 1


def bench_job() -> dg.JobDefinition:
    """The k8s_sync job for the benchmark's kubeconfig and database (reconstructable by name)."""
    defs = definitions(Path(os.environ["BENCH_KUBECONFIG"]), os.environ["BENCH_DATABASE_URL"],
                       request_timeout=120.0)
    job = defs.resolve_job_def(SYNC_JOB)
    if not os.environ.get("BENCH_WITH_CHECKS"):
        # The sync itself: every asset of the job, none of the asset checks.
        job = job.get_subset(asset_selection=set(job.asset_layer.executable_asset_keys), asset_check_selection=set())
    return job


if __name__ == "__main__":
    sys.exit(main())
