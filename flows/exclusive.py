"""One warehouse writer at a time across every run a Prefect server knows of, and the cleanup after a
run that was killed.

DuckDB refuses a second process outright; a scheduled run that started while someone ran a stage by
hand would fail. Every top-level webtext run therefore takes the one slot of this home's global
concurrency limit (`webtext-warehouse-<home hash>`) first, so runs queue in the UI instead of
colliding. The pipeline's stage subflows run inside their parent's slot.

A process killed while it holds the slot cannot release it, and the server would keep it until the
lease expires. The holder writes its pid and lease to `WEBTEXT_HOME/warehouse-slot.json`; the next
run on this home finds the pid dead, releases the lease, and marks that process's flow runs crashed
(a command's runs carry its pid as a tag; a deployment run names its flow run there), so the UI does
not show them running forever.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import socket
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, ParamSpec, TypeVar
from uuid import UUID

from webtext.components.errors import WebtextError
from webtext.components.files import atomic_write_bytes, stable_hash
from webtext.components.home import Home

if TYPE_CHECKING:
    import duckdb

HOLDER_FILE = "warehouse-slot.json"
SLOT_WAIT_S = 10  # a command waits this long for a deployment run to let the warehouse go
_held: ContextVar[bool] = ContextVar("webtext_warehouse_slot", default=False)
P, R = ParamSpec("P"), TypeVar("R")


def limit_name(home: Home) -> str:
    """This home's limit: homes that share a Prefect server do not wait for each other."""
    return f"webtext-warehouse-{stable_hash(str(home.root))[:8]}"


def run_tag(pid: int | None = None) -> str:
    """The tag on every flow run this process starts: how the next run finds them if it dies."""
    return f"webtext-pid:{socket.gethostname()}:{pid or os.getpid()}"


def ensure_limit(home: Home) -> None:
    """Create this home's one-slot limit on the current Prefect API unless it exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(limit_name(home))
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=limit_name(home), limit=1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_killed_run(home: Home) -> list[str]:
    """Release the slot of a holder on this host that died holding it, and mark its flow runs
    crashed; returns the names of the runs marked."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    path = home.root / HOLDER_FILE
    try:
        holder = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return []
    if holder.get("host") != socket.gethostname() or _alive(holder["pid"]):
        return []
    marked = []
    with get_client(sync_client=True) as client:
        try:
            client.release_concurrency_slots_with_lease(UUID(holder["lease_id"]))
        except Exception:  # noqa: BLE001  expired or already released: nothing is held
            pass
        unfinished = FlowRunFilterState(type=FlowRunFilterStateType(
            any_=[StateType.RUNNING, StateType.PENDING, StateType.SCHEDULED]))
        running = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[run_tag(holder["pid"])]), state=unfinished))
        if holder.get("flow_run_id"):  # a deployment run: it and the stage subflow it was in
            run_id = UUID(holder["flow_run_id"])
            running += client.read_flow_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[run_id]), state=unfinished))
            running += client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id]), state=unfinished))
        for run in running:
            client.set_flow_run_state(run.id, Crashed(message=f"process {holder['pid']} was killed"),
                                      force=True)
            marked.append(run.name)
    path.unlink(missing_ok=True)
    return marked


@contextmanager
def warehouse_slot(timeout_s: float | None = None) -> Iterator[None]:
    """Hold this home's warehouse slot for the block (waiting at most `timeout_s`, else
    TimeoutError); a no-op inside a block that holds it already."""
    if _held.get():
        yield
        return
    from prefect.concurrency.context import ConcurrencyContext
    from prefect.concurrency.sync import concurrency

    home = Home.from_env()
    crashed = recover_killed_run(home)
    if crashed:
        from prefect.logging import get_logger

        get_logger("webtext").warning("a killed run held the warehouse; marked crashed: %s",
                                      ", ".join(crashed))
    ensure_limit(home)
    slot = concurrency(limit_name(home), occupy=1, timeout_seconds=timeout_s, strict=True)
    with ConcurrencyContext() as leases, slot:  # the context records the lease id as it is taken
        from prefect.runtime import flow_run

        holder = {"pid": os.getpid(), "host": socket.gethostname(), "flow_run_id": flow_run.id,
                  "lease_id": str(leases.cleanup_lease_ids[-1])}
        atomic_write_bytes(home.root / HOLDER_FILE, json.dumps(holder).encode())
        token = _held.set(True)
        try:
            yield
        finally:
            _held.reset(token)
            (home.root / HOLDER_FILE).unlink(missing_ok=True)


@contextmanager
def command_holds_warehouse(home: Home, wait_s: float = SLOT_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """What a `webtext` command holds while it writes, yielded as its connection: the warehouse file
    first, so that a second command fails at once naming this one; then the slot deployment runs queue
    on, waiting `wait_s` for a run that holds it. The file is let go before the slot, so a queued run
    never finds it open."""
    from webtext import warehouse

    con = warehouse.connect(home.warehouse)
    try:
        with warehouse_slot(timeout_s=wait_s):
            try:
                yield con
            finally:
                con.close()
    except TimeoutError:
        raise WebtextError(f"warehouse {home.warehouse} is busy: a Prefect run holds its concurrency slot "
                           f"{limit_name(home)} (the UI's Concurrency page shows it)") from None
    finally:
        con.close()


def holds_warehouse(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a flow function inside `warehouse_slot`. Its signature is resolved here against its own
    module: Prefect validates parameters against the wrapper, whose globals are this module's."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with warehouse_slot():
            return fn(*args, **kwargs)

    wrapper.__signature__ = inspect.signature(fn, eval_str=True)
    wrapper.__annotations__ = typing.get_type_hints(fn)
    return wrapper
