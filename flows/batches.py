"""Running a stage's batches through a Prefect task runner chosen by config (`cluster`).

Locally, batches run one at a time in this process: each already keeps the machine busy with its own
workers, and the crawl's per-host limits hold within one batch. On Dask they run at once, one task per
batch, on the cluster's workers; the flow still records each batch's output, from this process, as it
finishes. Tasks pass file paths, never data, so a worker needs only WEBTEXT_HOME.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from webtext.components.config import ClusterConfig


def task_runner(cluster: ClusterConfig):
    from prefect.task_runners import ThreadPoolTaskRunner

    if cluster.task_runner == "local":
        return ThreadPoolTaskRunner(max_workers=1)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        from webtext.components.errors import ConfigError

        raise ConfigError("cluster.task_runner=dask needs prefect-dask: pip install '.[dask]'") from exc
    if cluster.dask_address:
        return DaskTaskRunner(address=cluster.dask_address)
    import dask

    # An extract batch kills and replaces a worker process stuck on a page: it needs children, which
    # Dask's daemonic workers may not have (a cluster of your own: DASK_DISTRIBUTED__WORKER__DAEMON=False).
    dask.config.set({"distributed.worker.daemon": False})
    return DaskTaskRunner(cluster_kwargs={"n_workers": cluster.dask_workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


def run_batches(cluster: ClusterConfig, task, calls: list[dict[str, Any]]) -> Iterator[tuple[dict, Any]]:
    """Submit `task` once per parameter dict; yield (parameters, result) as each one finishes."""
    from prefect.futures import as_completed

    if not calls:
        return
    with task_runner(cluster) as runner:
        futures = {runner.submit(task, parameters=call): call for call in calls}
        for future in as_completed(list(futures)):
            yield futures[future], future.result()
