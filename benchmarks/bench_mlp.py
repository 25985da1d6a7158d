#!/usr/bin/env python
"""Time one MNIST epoch of the same MLPs with hand-written numpy, minigrad (hand loop, fit) and PyTorch.

Every implementation trains the same recipe from the same initial weights: float32, batch 128,
glorot-uniform kernels and zero biases, relu hidden layers, a linear output trained with a fused
softmax cross-entropy, Keras' Adam (lr 1e-3), shuffled every epoch. The implementations are
interleaved and rotated (A B C D, B C D A, ...) so that the load of a shared machine and the
position in a round hit them alike; each first trains warm-up epochs that are not timed (steady
state). The table gives the median seconds
per epoch over the repetitions, and each implementation's time relative to numpy as the median
of the per-repetition ratios (numpy's run in the same repetition is the pair).

    python benchmarks/bench_mlp.py                       # the three sizes, 3 repetitions
    python benchmarks/bench_mlp.py --sizes 25,15 --limit 6000 --repeats 2   # a quick look
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from numpy_reference import NumpyMLP, glorot_uniform_params, numpy_calls_per_step, run_epoch

__all__ = ["IMPLEMENTATIONS", "interleaved", "load_mnist_float", "main", "make_trainer"]

NUM_CLASSES = 10
IMPLEMENTATIONS = ("numpy", "minigrad-loop", "minigrad-fit", "torch")
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


# ----- data ---------------------------------------------------------------------------------

def _read_idx_gz(path: Path) -> np.ndarray:
    """One gzip IDX file as a uint8 array (the MNIST format: magic, dims, then the bytes)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _load_mnist_uint8(data_dir: Path | None) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    if data_dir is None:
        try:
            from minigrad.datasets import load_mnist
        except ImportError:  # minigrad without its datasets module: read the shared files ourselves
            data_dir = SHARED_MNIST
        else:
            return load_mnist()
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    missing = [n for n in names if not (data_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"bench_mlp: MNIST files {missing} not found in {data_dir}; pass --data-dir")
    x, y, xt, yt = (_read_idx_gz(data_dir / n) for n in names)
    return (x, y), (xt, yt)


def load_mnist_float(limit: int | None = None, data_dir: Path | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): x flattened to (N, 784) float32 in [0, 1], y int64."""
    (x, y), (xt, yt) = _load_mnist_uint8(data_dir)
    if limit is not None:
        x, y = x[:limit], y[:limit]

    def prepare(images: np.ndarray) -> np.ndarray:
        out = images.reshape(len(images), -1).astype(np.float32)
        out /= 255.0
        return out

    return prepare(x), y.astype(np.int64), prepare(xt), yt.astype(np.int64)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The sample order of one epoch; every hand-written loop gets the same one."""
    return np.random.default_rng((seed, epoch)).permutation(n)


# ----- the implementations ------------------------------------------------------------------
# Each trainer has train_epoch(x, y, batch_size, order) -> mean loss and accuracy(x, y) -> float.

def _dense_layers(nn: Any, params: list[np.ndarray]) -> list[Any]:
    """Dense layers of the widths in `params`: relu hidden layers, a linear output."""
    n_layers = len(params) // 2
    return [nn.Dense(params[2 * i].shape[1], activation="relu" if i < n_layers - 1 else None)
            for i in range(n_layers)]


class MinigradLoop:
    """minigrad's public API in a hand-written loop: nn.Dense layers, F.softmax_cross_entropy, optim.Adam."""

    def __init__(self, params: list[np.ndarray], learning_rate: float) -> None:
        import minigrad as mg
        import minigrad.functional as F
        from minigrad import nn, optim

        self.mg, self.F = mg, F
        self.layers = _dense_layers(nn, params)
        self.logits(np.zeros((1, params[0].shape[0]), dtype=np.float32))  # Dense builds on its first call
        self.weights = [w for layer in self.layers for w in (layer.kernel, layer.bias)]
        _load_into(self.weights, params, "minigrad-loop")
        self.optimizer = optim.Adam(self.weights, learning_rate=learning_rate)

    def logits(self, x: np.ndarray) -> Any:
        h = self.mg.Tensor(x)
        for layer in self.layers:
            h = layer(h)
        return h

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        loss = self.F.softmax_cross_entropy(self.logits(xb), yb)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray) -> float:
        return run_epoch(self.train_step, x, y, batch_size, order)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        with self.mg.no_grad():
            return float((self.logits(x).data.argmax(axis=1) == y).mean())

    def parameters(self) -> list[np.ndarray]:
        return [w.data for w in self.weights]


class MinigradFit:
    """minigrad's Keras-style API: Sequential + compile + fit(verbose=0)."""

    def __init__(self, params: list[np.ndarray], learning_rate: float) -> None:
        import minigrad as mg
        from minigrad import nn, optim

        self.model = nn.Sequential(_dense_layers(nn, params))
        self.model(mg.Tensor(np.zeros((1, params[0].shape[0]), dtype=np.float32)))  # builds the layers
        # Loaded before compile: fit binds the optimizer on its first batch, keeping these values.
        _load_into(self.model.parameters(), params, "minigrad-fit")
        self.model.compile(optimizer=optim.Adam(learning_rate=learning_rate),
                           loss=nn.SparseCategoricalCrossentropy(from_logits=True))

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray) -> float:
        # fit shuffles by itself (shuffle=True, Keras' default); `order` only fixes the epoch's length.
        n = len(order)
        history = self.model.fit(x[:n], y[:n], epochs=1, batch_size=batch_size, verbose=0)
        return float(history.history["loss"][-1])

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        outputs = self.model.predict(x, batch_size=len(x))
        return float((np.asarray(outputs).argmax(axis=1) == y).mean())

    def parameters(self) -> list[np.ndarray]:
        return [w.data for w in self.model.parameters()]


class TorchLoop:
    """PyTorch CPU, the same recipe: Linear layers, F.cross_entropy, torch.optim.Adam(eps=1e-7)."""

    def __init__(self, params: list[np.ndarray], learning_rate: float) -> None:
        import torch

        self.torch = torch
        n_layers = len(params) // 2
        modules: list[Any] = []
        for i in range(n_layers):
            w, b = params[2 * i], params[2 * i + 1]
            linear = torch.nn.Linear(w.shape[0], w.shape[1])
            with torch.no_grad():  # torch keeps weight as (out, in)
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
            if i < n_layers - 1:
                modules.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*modules)
        # torch adds epsilon to sqrt(v_hat) where Keras adds it to sqrt(v): a difference far below
        # float32 noise for these gradients, and the update is otherwise the same.
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=learning_rate, eps=1e-7)
        self._x: tuple[int, Any] | None = None

    def _as_torch(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        # Shares memory with the numpy arrays: no copy of the data set per epoch.
        return self.torch.from_numpy(x), self.torch.from_numpy(y)

    def train_step(self, xb: Any, yb: Any) -> float:
        loss = self.torch.nn.functional.cross_entropy(self.model(xb), yb)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray) -> float:
        xt, yt = self._as_torch(x, y)
        return run_epoch(self.train_step, xt, yt, batch_size, self.torch.from_numpy(order))

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        with self.torch.no_grad():
            xt, yt = self._as_torch(x, y)
            return float((self.model(xt).argmax(dim=1) == yt).float().mean())

    def parameters(self) -> list[np.ndarray]:
        """[W0, b0, ...] with kernels as (in, out), the numpy reference's layout."""
        arrays = [p.detach().numpy() for p in self.model.parameters()]
        return [a.T if a.ndim == 2 else a for a in arrays]


def _load_into(tensors: list[Any], params: list[np.ndarray], who: str) -> None:
    """Copy the shared initial arrays into a model's parameter tensors, in place."""
    if len(tensors) != len(params):
        raise ValueError(f"{who}: the model has {len(tensors)} parameters, the initial weights {len(params)}")
    for i, (t, p) in enumerate(zip(tensors, params)):
        if tuple(t.shape) != p.shape:
            raise ValueError(f"{who}: parameter {i} has shape {tuple(t.shape)}, the initial weight {p.shape}")
        t.data[...] = p


_FACTORIES: dict[str, Callable[[list[np.ndarray], float], Any]] = {
    "numpy": NumpyMLP,  # the hand-written floor, benchmarks/numpy_reference.py
    "minigrad-loop": MinigradLoop,
    "minigrad-fit": MinigradFit,
    "torch": TorchLoop,
}


def make_trainer(name: str, params: list[np.ndarray], learning_rate: float = 1e-3) -> Any:
    """A trainer of implementation `name`, starting from copies of `params` ([W0, b0, W1, b1, ...])."""
    if name not in _FACTORIES:
        raise ValueError(f"bench_mlp: unknown implementation {name!r}; choose from {', '.join(IMPLEMENTATIONS)}")
    return _FACTORIES[name](params, learning_rate)


def available_implementations() -> dict[str, str]:
    """{name: reason} for the implementations that cannot run here (a missing module)."""
    missing = {}
    try:
        import torch  # noqa: F401
    except ImportError:
        missing["torch"] = "torch is not installed"
    try:
        from minigrad import nn, optim
    except ImportError as exc:
        nn = optim = None
        reason = f"minigrad.nn/optim not importable ({exc})"
    else:
        needed = [f"nn.{n}" for n in ("Dense", "Sequential") if not hasattr(nn, n)]
        needed += [] if hasattr(optim, "Adam") else ["optim.Adam"]
        reason = f"minigrad lacks {', '.join(needed)}" if needed else ""
    if reason:
        missing["minigrad-loop"] = missing["minigrad-fit"] = reason
    return missing


# ----- memory ---------------------------------------------------------------------------------

def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset VmHWM (Linux: writing 5 to /proc/self/clear_refs) so the peak counts from now."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_probe(name: str, sizes: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS above the after-data-loading baseline while building `name` and training some steps."""
    x, y, _, _ = load_mnist_float(args.limit, args.data_dir)
    # Libraries load before the baseline, so the delta is the model's and the training's own memory.
    modules = {"torch": ["torch"], "minigrad-loop": ["minigrad.functional", "minigrad.nn", "minigrad.optim"],
               "minigrad-fit": ["minigrad.functional", "minigrad.nn", "minigrad.optim"]}.get(name, [])
    for module in modules:
        importlib.import_module(module)
    params = glorot_uniform_params(sizes, np.random.default_rng(args.seed))
    baseline = _proc_status_kib("VmRSS")
    if baseline is None or not _reset_peak_rss():
        return {"impl": name, "peak_rss_delta_mib": None}
    trainer = make_trainer(name, params, args.lr)
    n = min(len(x), args.memory_steps * args.batch_size)
    trainer.train_epoch(x[:n], y[:n], args.batch_size, epoch_order(args.seed, 0, n))
    peak = _proc_status_kib("VmHWM") or baseline
    return {"impl": name, "peak_rss_delta_mib": (peak - baseline) / 1024, "steps": math.ceil(n / args.batch_size)}


def measure_memory(name: str, hidden: str, args: argparse.Namespace) -> float | None:
    """Run `memory_probe` in a fresh Python, so no other implementation's allocations blur it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-probe", name, "--sizes", hidden,
           "--batch-size", str(args.batch_size), "--memory-steps", str(args.memory_steps),
           "--seed", str(args.seed), "--lr", str(args.lr)]
    if args.limit is not None:
        cmd += ["--limit", str(args.limit)]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    if args.data_dir is not None:
        cmd += ["--data-dir", str(args.data_dir)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        print(f"  (memory probe of {name} failed: {proc.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_delta_mib"]


def limit_threads(n: int) -> str | None:
    """Cap numpy's BLAS and torch at `n` threads for the rest of the process; an error message or None."""
    if n < 1:
        return "--threads must be at least 1"
    try:
        import threadpoolctl
    except ImportError:
        return "--threads needs threadpoolctl (pip install threadpoolctl), or set OPENBLAS_NUM_THREADS yourself"
    threadpoolctl.threadpool_limits(limits=n, user_api="blas")  # holds until restored, i.e. for this run
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(n)
    return None


# ----- the run --------------------------------------------------------------------------------

def machine_description() -> dict[str, Any]:
    """CPU model, cores, numpy and its BLAS (threadpoolctl, when installed), torch, OpenBLAS env vars."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
                            "numpy": np.__version__}
    if hasattr(os, "getloadavg"):  # other work on the machine is the main source of noise: say how much
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    try:
        import threadpoolctl

        blas = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        if blas:
            info["blas"] = (f"{blas[0].get('internal_api')} {blas[0].get('version')} "
                            f"kernel={blas[0].get('architecture')} threads={blas[0].get('num_threads')}")
    except ImportError:
        info["blas"] = "unknown (pip install threadpoolctl to see the kernel)"
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if var in os.environ:
            info[var] = os.environ[var]
    try:
        import torch

        info["torch"] = f"{torch.__version__} threads={torch.get_num_threads()}"
    except ImportError:
        pass
    return info


def parse_sizes(text: list[str]) -> list[tuple[int, ...]]:
    sizes = []
    for item in text:
        try:
            hidden = tuple(int(h) for h in item.split(",") if h)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--sizes: {item!r} is not a comma-separated list of widths") from None
        if not hidden or any(h <= 0 for h in hidden):
            raise argparse.ArgumentTypeError(f"--sizes: {item!r} must hold positive widths such as 128,64")
        sizes.append(hidden)
    return sizes


def interleaved(impls: list[str], rep: int) -> list[str]:
    """The order of repetition `rep`: impls rotated by rep, so each runs in every position equally often.

    On a shared machine the position in a round matters (what ran just before has warmed or
    evicted the caches, and the load drifts within a round): a fixed order would hand one
    implementation the same advantage every time.
    """
    k = rep % len(impls)
    return impls[k:] + impls[:k]


def run_size(hidden: tuple[int, ...], impls: list[str], data: tuple[np.ndarray, ...],
             args: argparse.Namespace) -> list[dict[str, Any]]:
    """Warm up, then time every implementation interleaved; return one result row per implementation."""
    x, y, xt, yt = data
    n = len(x)
    sizes = [x.shape[1], *hidden, NUM_CLASSES]
    params = glorot_uniform_params(sizes, np.random.default_rng(args.seed))
    trainers = {name: make_trainer(name, params, args.lr) for name in impls}
    epoch = 0
    for _ in range(args.warmup_epochs):
        order = epoch_order(args.seed, epoch, n)
        for name in impls:
            trainers[name].train_epoch(x, y, args.batch_size, order)
        epoch += 1
    times: dict[str, list[float]] = {name: [] for name in impls}
    losses: dict[str, float] = {}
    for rep in range(args.repeats):
        for name in interleaved(impls, rep):
            start = time.perf_counter()
            for k in range(args.epochs_per_rep):
                # The shuffle is inside the timed region, as it is inside fit.
                order = epoch_order(args.seed, epoch + k, n)
                losses[name] = trainers[name].train_epoch(x, y, args.batch_size, order)
            times[name].append((time.perf_counter() - start) / args.epochs_per_rep)
        epoch += args.epochs_per_rep
    rows = []
    base = times.get("numpy")
    for name in impls:
        median = statistics.median(times[name])
        ratio = None
        if base is not None:
            ratio = statistics.median(t / b for t, b in zip(times[name], base))
        memory = None if args.no_memory else measure_memory(name, ",".join(map(str, hidden)), args)
        rows.append({
            "hidden": ",".join(map(str, hidden)), "impl": name, "seconds_per_epoch": median,
            "seconds_min": min(times[name]), "samples_per_second": n / median, "ratio_to_numpy": ratio,
            "peak_rss_delta_mib": memory, "last_epoch_loss": losses.get(name),
            "test_accuracy": trainers[name].accuracy(xt, yt), "epochs_trained": epoch, "times": times[name],
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (one row per size and implementation)."""
    header = ("| hidden | implementation | s/epoch (median) | min | samples/s | × numpy | peak RSS Δ MiB | "
              "last loss | test acc |")
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = "" if r["ratio_to_numpy"] is None else f"{r['ratio_to_numpy']:.2f}"
        mem = "" if r["peak_rss_delta_mib"] is None else f"{r['peak_rss_delta_mib']:.1f}"
        loss = "" if r["last_epoch_loss"] is None else f"{r['last_epoch_loss']:.4f}"
        lines.append(f"| {r['hidden']} | {r['impl']} | {r['seconds_per_epoch']:.3f} | {r['seconds_min']:.3f} | "
                     f"{r['samples_per_second']:,.0f} | {ratio} | {mem} | {loss} | {r['test_accuracy']:.4f} |")
    return "\n".join(lines)


def _write_json_atomically(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    # os.open with 0o666, not mkstemp (0600): the results file gets the umask's permissions like any other
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time one MNIST epoch of the same MLPs with hand-written numpy, minigrad (a hand loop "
                    "and model.fit) and PyTorch, interleaved; print seconds per epoch, samples/s, "
                    "peak memory and the ratio to numpy.")
    parser.add_argument("--sizes", nargs="+", default=["25,15", "128,64", "256,128"],
                        help="hidden layer widths, one comma-separated list per network (default: %(default)s)")
    parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS),
                        help="comma-separated implementations to run (default: all that are available)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (default: %(default)s)")
    parser.add_argument("--epochs-per-rep", type=int, default=1, help="epochs per repetition (default: 1)")
    parser.add_argument("--warmup-epochs", type=int, default=1, help="untimed epochs first (default: 1)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N samples only")
    parser.add_argument("--batch-size", type=int, default=128, help="default: %(default)s")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and shuffles (default: 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit numpy's BLAS (via threadpoolctl) and torch to N threads; default: as is")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument("--memory-steps", type=int, default=100,
                        help="training steps in each memory probe (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="a folder with MNIST's four .gz files (default: minigrad.datasets, else shared/)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)  # internal: one child process
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    for flag in ("repeats", "epochs_per_rep", "batch_size", "memory_steps"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.warmup_epochs < 0 or (args.limit is not None and args.limit < 1):
        parser.error("--warmup-epochs must be >= 0 and --limit >= 1")

    if args.threads is not None:
        error = limit_threads(args.threads)
        if error:
            parser.error(error)
    if args.memory_probe is not None:
        print(json.dumps(memory_probe(args.memory_probe, [784, *sizes[0], NUM_CLASSES], args)))
        return 0

    requested = [name.strip() for name in args.impls.split(",") if name.strip()]
    unknown = [name for name in requested if name not in IMPLEMENTATIONS]
    if unknown:
        parser.error(f"--impls: unknown {unknown}; choose from {', '.join(IMPLEMENTATIONS)}")
    missing = available_implementations()
    impls = [name for name in requested if name not in missing]
    for name in requested:
        if name in missing:
            print(f"skipping {name}: {missing[name]}")

    machine = machine_description()
    print("machine: " + "; ".join(f"{k}={v}" for k, v in machine.items()))
    data = load_mnist_float(args.limit, args.data_dir)
    print(f"data: MNIST {len(data[0])} training samples, {len(data[2])} test samples; batch {args.batch_size}; "
          f"{args.warmup_epochs} warm-up epoch(s), {args.repeats} repetitions x {args.epochs_per_rep} epoch(s), "
          f"interleaved {' '.join(impls)}")
    print(f"numpy reference: {numpy_calls_per_step(len(sizes[0]) + 1)} numpy calls per training step")
    rows = []
    for hidden in sizes:
        rows += run_size(hidden, impls, data, args)
        print(format_table([r for r in rows if r["hidden"] == ",".join(map(str, hidden))]), flush=True)
    print()
    print(format_table(rows))
    if hasattr(os, "getloadavg"):
        print(f"load average (1 min) at the start: {machine.get('load_average_1min')}, "
              f"at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if not args.no_memory:
        print(f"peak RSS Δ: VmHWM above the RSS after imports and data loading, in a fresh process per "
              f"implementation, over building the model and {args.memory_steps} training steps")
    if args.json is not None:
        _write_json_atomically(args.json, {"machine": machine, "args": {k: str(v) for k, v in vars(args).items()},
                                           "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
