"""A training run on one process or many: the Trainer settings a config names, each process's own
random stream, the full weights gathered for export, and which process failed first.

`python -m webtext.components.train` (or `.finetune`) is started by the stage, on the head node, and
by hand on every other node; Lightning's DDP then starts each node's other processes, all on the same
`job.json`. A launcher the config names (`srun`, `torchrun`) starts every process itself instead, and
Lightning takes their ranks from it. Every process runs the same code; what differs is its rank, which
picks its batches, its dropout and its share of validation.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

from webtext.components.config import Devices
from webtext.components.files import atomic_write_bytes
from webtext.components.lifetime import exit_with_parent
from webtext.components.train.precision import resolve

FAILURES = "failures"


def seed_of(*key: int) -> int:
    """A 63-bit seed drawn from `key` (seed, rank, index): distinct keys give unrelated streams."""
    return int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0] >> 1)


def world_size(devices: Devices) -> int:
    """Processes in the run: devices per node (as Lightning resolves `auto` here) x nodes."""
    probe = L.Trainer(accelerator=devices.accelerator, devices=devices.devices, num_nodes=devices.num_nodes,
                      strategy="ddp" if devices.strategy == "fsdp" else devices.strategy,
                      logger=False, enable_checkpointing=False)
    return probe.world_size


def trainer_settings(devices: Devices, world: int, measurements: Path | None) -> dict:
    """Trainer keyword arguments for `devices`; `precision: auto` as `components.train.precision`
    decides it, with the machine's rates kept in `measurements`.

    `fsdp` is FSDP2 (`fully_shard`, applied by the module's `configure_model`) through Lightning's
    ModelParallelStrategy: it runs on CPU processes (gloo) as on GPUs, which Lightning's FSDP1 strategy
    refuses, and clips the gradient norm over every shard. Checkpoints are gathered into one file, written
    by global rank 0 and hashed like any other.
    """
    from lightning.pytorch.strategies import ModelParallelStrategy

    strategy = devices.strategy
    if strategy == "fsdp":
        strategy = ModelParallelStrategy(data_parallel_size=world, tensor_parallel_size=1,
                                         save_distributed_checkpoint=False)
    chosen, why = resolve(devices.precision, measurements)
    if why and rank_zero_only.rank == 0:
        print(why, flush=True)
    return dict(accelerator=devices.accelerator, devices=devices.devices, num_nodes=devices.num_nodes,
                strategy=strategy, precision=chosen)


def shard(root: torch.nn.Module, blocks, mesh) -> None:
    """FSDP2 over `mesh`: each block its own unit (gathered for its forward, freed after), the rest
    (embeddings, heads) in the root's. The model is then called through `root`'s forward only."""
    from torch.distributed.fsdp import fully_shard

    for block in blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(root, mesh=mesh)


def gathered_model(trainer: L.Trainer, fresh: Callable[[], torch.nn.Module]) -> torch.nn.Module | None:
    """The trained `model` of the LightningModule, whole, as a fresh module on global rank 0 (None on
    the others). Every process must call it: a sharded strategy gathers the shards here."""
    prefix = "model."
    state = trainer.strategy.lightning_module_state_dict()
    if not trainer.is_global_zero:
        return None
    model = fresh()
    model.load_state_dict({name.removeprefix(prefix): tensor for name, tensor in state.items()
                           if name.startswith(prefix)})
    return model.eval()


def gathered(trainer: L.Trainer, items: list) -> list:
    """Every process's `items`, concatenated in rank order, on every process."""
    if trainer.world_size == 1:
        return items
    shares: list = [None] * trainer.world_size
    torch.distributed.all_gather_object(shares, items)
    return [item for share in shares for item in share]


class SameStart(L.Callback):
    """Fail the run unless every process starts training from the same step: a node that does not see
    the checkpoint the others resumed from (storage not shared, or not yet synced) would otherwise
    train a different model in lockstep with them."""

    def on_train_start(self, trainer, module) -> None:
        steps = trainer.strategy.all_gather(torch.tensor(trainer.global_step, device=module.device))
        steps = steps.reshape(-1).tolist()
        if len(set(steps)) > 1:
            raise RuntimeError(f"processes start from different steps {steps} (by rank): every node must "
                               f"see the same run directory, checkpoints included")


def record_failure(out: Path, error: BaseException) -> None:
    """Write `failures/<host>-<pid>.json` in the run directory: which process failed, and why. The
    stage reads these to name the process that failed first, not the ones that then lost their
    peers (whose errors only say that a connection closed)."""
    record = {"rank": rank_zero_only.rank, "node": int(_env("NODE_RANK", "GROUP_RANK", "SLURM_NODEID")),
              "local_rank": int(_env("LOCAL_RANK", "SLURM_LOCALID")), "host": socket.gethostname(),
              "pid": os.getpid(), "time": time.time(), "error": f"{type(error).__name__}: {error}",
              "traceback": traceback.format_exc(limit=-8)}
    atomic_write_bytes(out / FAILURES / f"{record['host']}-{record['pid']}.json",
                       (json.dumps(record, indent=1) + "\n").encode())


def _env(*names: str) -> str:
    """The first of these variables that is set (Lightning's, torchrun's, Slurm's names for one thing)."""
    return next((os.environ[name] for name in names if name in os.environ), "0")


def first_failure(out: Path, since: float) -> dict | None:
    """The earliest failure recorded in `out` at or after `since` (a time.time()), if any."""
    records = []
    for path in (out / FAILURES).glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("time", 0) >= since:
            records.append(record)
    return min(records, key=lambda r: r["time"], default=None)


def describe(failure: dict) -> str:
    """One line naming the process and its error."""
    return (f"process of rank {failure['rank']} (node {failure['node']}, local rank {failure['local_rank']}, "
            f"pid {failure['pid']} on {failure['host']}) failed first: {failure['error']}")


def run_each(jobs: list[Any], run: Callable[[Any], object]) -> None:
    """Run the jobs (`components.train.job` records) in turn in this process (torch and Lightning start
    once for all); a job that fails is recorded in its run directory (`job.out`) before the error ends
    the process."""
    exit_with_parent()
    for job in jobs:
        try:
            run(job)
        except Exception as error:
            record_failure(job.out, error)
            raise
    if torch.distributed.is_initialized():  # leave together, once rank 0 has written every result
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
