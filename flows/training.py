"""Training processes as Prefect tasks: the runner pretrain and finetune share.

A run is `python -m MODULE JOB.json ...` in a child process (which Lightning may turn into several), or
under a launcher that starts every process itself (`srun`, `torchrun`):
its output is streamed into the task's log, its `@progress` JSON lines move a progress artifact, and a
failure ends the stage with one line that names the process that failed first (from the failures the
processes record in their run directory, on any node) and quotes the run's last output. Each job's
directory then holds `result.json`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from webtext.components.errors import StageError
from webtext.components.train import PROGRESS
from webtext.components.train.distributed import describe, first_failure
from webtext.components.train.job import RESULT_FILE, TrainingResult


@task(task_run_name="train-{label}")
def run_jobs(label: str, job_files: list[Path], module: str, artifact_key: str,
             launcher: list[str]) -> list[TrainingResult]:
    """Run `[*launcher] python -m module` on the jobs, all in one run; return each job's result."""
    logger = get_run_logger()
    artifact = create_progress_artifact(0.0, key=artifact_key, description=f"Training {label}")
    tail: deque[str] = deque(maxlen=20)
    started = time.time()
    process = subprocess.Popen([*launcher, sys.executable, "-m", module, *map(str, job_files)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in process.stdout:
        line = line.rstrip()
        tail.append(line)
        if line.startswith(PROGRESS):
            progress = json.loads(line[len(PROGRESS):])
            update_progress_artifact(artifact, 100.0 * progress["step"] / progress["max_steps"])
            logger.info("step %d/%d %s", progress["step"], progress["max_steps"],
                        " ".join(f"{k}={v:.4g}" for k, v in progress.items()
                                 if isinstance(v, float | int) and k not in ("step", "max_steps")))
        elif line:
            logger.info("%s", line)
    if process.wait() != 0:
        failures = [f for f in (first_failure(job_file.parent, started) for job_file in job_files) if f]
        cause = f"{describe(min(failures, key=lambda f: f['time']))}; " if failures else ""
        raise StageError(f"training {label} failed (exit {process.returncode}): {cause}"
                         f"its last lines: {' | '.join(tail)}")
    return [TrainingResult.read(job_file.parent / RESULT_FILE) for job_file in job_files]
