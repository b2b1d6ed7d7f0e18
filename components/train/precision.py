"""`precision: auto`, decided by what this machine does rather than by what its CPU claims.

On a GPU: bf16-mixed where it computes in bf16, else 16-mixed. On a CPU, bf16 autocast is about twice
fp32's speed where the cores have AVX-512 BF16 (or AMX), and over a hundred times slower where they do
not and oneDNN emulates it; flags and library probes have been wrong about which. So the first training
process on a kind of machine times a bf16 and an fp32 matmul, keeps the two rates in
`<measurements>/<machine>.json` (the CPU's model and flags and the torch version name the machine),
and every later run on that kind reads them: bf16-mixed when bf16 is faster, else 32-true.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from webtext.components.files import atomic_write_bytes

SIZE = 512  # the matmul timed: a hidden width of the models trained on a CPU
BUDGET_S = 0.2  # per precision, after one warm-up product


@dataclass(frozen=True)
class Rates:
    """Matmul throughput in each precision on one machine, and when it was measured."""

    machine: str
    fp32_gflops: float
    bf16_gflops: float
    measured_at: float

    @property
    def bf16_faster(self) -> bool:
        return self.bf16_gflops > self.fp32_gflops

    def describe(self) -> str:
        return (f"bf16 matmul {self.bf16_gflops:.1f} GFLOP/s, fp32 {self.fp32_gflops:.1f} GFLOP/s "
                f"({self.bf16_gflops / self.fp32_gflops:.2f}x) on {self.machine}")


def machine() -> str:
    """The CPU's model name with a digest of its flags and the torch version: what the rates depend on."""
    name, flags = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not flags:
                name = value.strip()
            if key.strip() == "flags":
                flags = " ".join(sorted(value.split()))
                break
    except OSError:
        pass
    digest = hashlib.sha256(f"{name}\n{flags}\n{torch.__version__}".encode()).hexdigest()[:12]
    return f"{name} [{digest}]"


def measure() -> Rates:
    """Time SIZE x SIZE matmuls in fp32 and in bf16 for BUDGET_S each."""
    rates = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(SIZE, SIZE, dtype=dtype), torch.randn(SIZE, SIZE, dtype=dtype)
        a @ b
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < BUDGET_S or not count:
            a @ b
            count += 1
        rates[dtype] = 2 * SIZE ** 3 * count / elapsed / 1e9
    return Rates(machine(), rates[torch.float32], rates[torch.bfloat16], time.time())


def cpu_rates(measurements: Path | None, measured: Callable[[], Rates] = measure
              ) -> tuple[Rates, Path | None]:
    """This machine's rates, read from `measurements` or measured and kept there (every process measures
    when `measurements` is None); and the file they are kept in."""
    if measurements is None:
        return measured(), None
    path = measurements / f"{hashlib.sha256(machine().encode()).hexdigest()[:16]}.json"
    try:
        return Rates(**json.loads(path.read_text())), path
    except (OSError, ValueError, TypeError):
        rates = measured()
        atomic_write_bytes(path, (json.dumps(asdict(rates), indent=1) + "\n").encode())
        return rates, path


def resolve(name: str, measurements: Path | None, measured: Callable[[], Rates] = measure) -> tuple[str, str]:
    """The Lightning precision `name` stands for here, and why (empty unless `name` is auto)."""
    if name != "auto":
        return name, ""
    if torch.cuda.is_available():
        chosen = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return chosen, f"precision auto: {chosen} on {torch.cuda.get_device_name()}"
    rates, path = cpu_rates(measurements, measured)
    chosen = "bf16-mixed" if rates.bf16_faster else "32-true"
    kept = f", kept in {path}" if path else ""
    return chosen, f"precision auto: {chosen}, {rates.describe()}{kept}"
