"""The `minigrad` command: `train` (live dashboard or plain log), `graph` (one step's graph), `demo softmax`.

Exit codes: 0 done, 1 the reader of stdout went away (a broken pipe) or a file could not be written once the
work was done (one sentence on stderr), 2 bad arguments or input, or no Graphviz renderer for `graph` (one
sentence on stderr, no traceback), 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

__all__ = ["VALIDATION_SIZE", "UsageError", "WriteError", "build_parser", "main"]

VALIDATION_SIZE = 5000  # the last 5,000 training images: never trained on, they give the val_* curves
PLAIN_EVERY = 100  # batches between plain progress lines (at least four lines an epoch on small runs)
DEFAULTS: dict[str, Any] = {"dataset": "mnist", "hidden": (25, 15), "epochs": 5, "batch_size": 128,
                            "optimizer": "adam", "loss": "fused", "seed": 0, "limit": None}
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.1}  # plain SGD at Adam's 1e-3 barely moves in 5 epochs
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
# settings a checkpoint's weights and optimizer state depend on: a resume must not change them
ARCHITECTURE = ("dataset", "hidden", "loss", "optimizer")
# Refused before any work: with gradients and Adam's two moments each weight costs 16 bytes in float32,
# so this is ~0.8 GB; a larger --hidden ended in a MemoryError traceback (or the OOM killer) after the data load.
MAX_WEIGHTS = 50_000_000


class UsageError(Exception):
    """Bad arguments or input: main prints the message (one sentence) and exits with code 2."""


class WriteError(Exception):
    """An output file could not be written after the work (full disk, a folder gone): main says so, exit 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line (no usage block) and exit with code 2 through main."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def _seed(text: str) -> int:
    # The seed also names numpy generators for the epochs' order and the digits shown, and numpy
    # refuses negative seeds: say so here, before the data is loaded, not in a traceback after it.
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**64 - 1, got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**64 - 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number such as 1e-3, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number such as 1e-3, got {text!r}")
    return value


def parse_hidden(text: str) -> tuple[int, ...]:
    """'25,15' -> (25, 15): the hidden layers' sizes (an empty string: no hidden layer)."""
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    sizes = []
    for part in parts:
        if not part.isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated positive layer sizes such as 25,15, got {text!r} ({part!r} is not one)")
        sizes.append(int(part))
    widths = (784, *sizes, 10)  # both datasets: 28x28 images, 10 classes
    weights = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    if weights > MAX_WEIGHTS:
        raise argparse.ArgumentTypeError(
            f"{text!r} makes a network of {weights:,} weights (784 inputs, 10 classes), more than the "
            f"{MAX_WEIGHTS:,} a run here holds in memory; use smaller layers such as 256,128")
    return tuple(sizes)


def _version() -> str:
    import minigrad

    return minigrad.__version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `minigrad` command."""
    parser = _Parser(prog="minigrad", description="minigrad: watch a neural network learn, see its graph.")
    parser.add_argument("--version", action="version", version=f"minigrad {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="{train,graph,demo}")

    train = commands.add_parser(
        "train", help="train an MLP on MNIST with a live dashboard",
        description="Train an MLP (the course network 784-25-15-10 by default) and show it learning: a live "
                    "dashboard on a terminal, plain lines otherwise. The last 5,000 training images are held "
                    "out for validation; the test set is used once, at the end.")
    train.add_argument("--dataset", choices=("mnist", "fashion-mnist"),
                       help="mnist (bundled) or fashion-mnist (see the README); default mnist")
    train.add_argument("--hidden", type=parse_hidden, metavar="SIZES",
                       help="hidden layer sizes, comma-separated; default 25,15 ('' for none: softmax regression)")
    train.add_argument("--epochs", type=_positive_int, help="total epochs (with --resume too); default 5")
    train.add_argument("--batch-size", type=_positive_int, help="default 128")
    train.add_argument("--lr", type=_positive_float, help="learning rate; default 1e-3 (adam), 0.1 (sgd)")
    train.add_argument("--optimizer", choices=("adam", "sgd"), help="default adam")
    train.add_argument("--loss", choices=("fused", "composite"),
                       help="fused: linear outputs + softmax_cross_entropy (default); composite: a softmax "
                            "output layer + cross_entropy on its probabilities")
    train.add_argument("--seed", type=_seed,
                       help="seed for the weights and the shuffling, 0 to 2**64 - 1; default 0")
    train.add_argument("--limit", type=_positive_int, metavar="N", help="train on the first N training images")
    train.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    train.add_argument("--save", metavar="PATH",
                       help="checkpoint file (any suffix); default minigrad-runs/<dataset>-<time>/checkpoint.npz")
    train.add_argument("--resume", metavar="PATH", help="continue from this checkpoint")

    graph = commands.add_parser("graph", help="render one training step's computation graph",
                                description="Build the network, run one training step on 16 MNIST images "
                                            "and render its computation graph (.svg, .png or .dot).")
    graph.add_argument("--hidden", type=parse_hidden, default=DEFAULTS["hidden"], metavar="SIZES",
                       help="hidden layer sizes, comma-separated; default 25,15 ('' for none: softmax regression)")
    graph.add_argument("--loss", choices=("fused", "composite"), default="fused", help="default fused")
    graph.add_argument("-o", "--output", default="graph.svg", metavar="PATH", help="default graph.svg")

    demo = commands.add_parser("demo", help="small demonstrations", description="Small demonstrations.")
    demo.add_argument("name", choices=("softmax",), help="softmax: the numerical-stability table")
    return parser


def _command_name() -> str:
    """How the user started us, for the resume hint: `minigrad` or `python -m minigrad`."""
    if Path(sys.argv[0]).name == "__main__.py":
        return "python -m minigrad"
    return "minigrad"


# ----- train -----------------------------------------------------------------------------------------------

@dataclass
class Settings:
    """The resolved settings of a training run (flags, else the checkpoint's, else the defaults)."""

    dataset: str
    hidden: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    loss: str
    seed: int
    limit: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "hidden": list(self.hidden), "epochs": self.epochs,
                "batch_size": self.batch_size, "lr": self.lr, "optimizer": self.optimizer, "loss": self.loss,
                "seed": self.seed, "limit": self.limit}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _show(name: str, value: Any) -> str:
    if name == "hidden":
        return ",".join(str(h) for h in value) or "''"
    return str(value)


def resolve_settings(args: argparse.Namespace, saved: dict[str, Any] | None, resume_path: str | None) -> Settings:
    """Flags win; with --resume, flags not given come from the checkpoint, which fixes the architecture."""
    values: dict[str, Any] = {}
    for name, default in DEFAULTS.items():
        given = getattr(args, name)
        if saved is not None and name in saved:
            stored = tuple(saved[name]) if name == "hidden" else saved[name]
            if given is not None and name in ARCHITECTURE and given != stored:
                raise UsageError(
                    f"checkpoint {resume_path} was trained with {_flag(name)} {_show(name, stored)}, not "
                    f"{_show(name, given)}; leave {_flag(name)} out to continue it, or start a new run without "
                    "--resume")
            values[name] = given if given is not None else stored
        else:
            values[name] = given if given is not None else default
    lr = args.lr
    if lr is None:
        lr = saved.get("lr") if saved is not None and saved.get("optimizer") == values["optimizer"] else None
    if lr is None:
        lr = DEFAULT_LR[values["optimizer"]]
    return Settings(dataset=values["dataset"], hidden=tuple(int(h) for h in values["hidden"]),
                    epochs=int(values["epochs"]), batch_size=int(values["batch_size"]), lr=float(lr),
                    optimizer=values["optimizer"], loss=values["loss"], seed=int(values["seed"]),
                    limit=None if values["limit"] is None else int(values["limit"]))


def load_dataset(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x_train, y_train), (x_test, y_test) as uint8 images and integer labels; loader errors -> UsageError."""
    from minigrad import datasets

    loader = datasets.load_mnist if name == "mnist" else datasets.load_fashion_mnist
    try:
        return loader()
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None


def _as_inputs(images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> float32 (n, 784) in [0, 1]."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)


class CompositeCrossEntropy:
    """loss(y_true, probs) = F.cross_entropy(probs, y_true): −log p_y from the softmax layer's output.

    Deliberately not nn.SparseCategoricalCrossentropy(from_logits=False), which would recover the
    logits and use the fused op: this trains through the composite softmax + log, as --loss composite says.
    """

    name = "cross_entropy"

    def __call__(self, y_true: Any, y_pred: Any) -> Any:
        import minigrad.functional as F

        return F.cross_entropy(y_pred, y_true)


def build_model(hidden: tuple[int, ...], loss: str, seed: int, inputs: int = 784) -> Any:
    """The MLP, built (weights drawn from `seed`) so its weights exist before any checkpoint is loaded."""
    import minigrad as mg
    from minigrad import nn

    layers = [nn.Dense(h, activation="relu") for h in hidden]
    layers.append(nn.Dense(10, activation="linear" if loss == "fused" else "softmax"))
    model = nn.Sequential(layers)
    mg.manual_seed(seed)
    with mg.no_grad():
        model(np.zeros((1, inputs), np.float32))
    return model


def make_optimizer(name: str, lr: float) -> Any:
    from minigrad import optim

    return optim.Adam(learning_rate=lr) if name == "adam" else optim.SGD(learning_rate=lr)


def make_loss(kind: str) -> Any:
    from minigrad import nn

    return nn.SparseCategoricalCrossentropy(from_logits=True) if kind == "fused" else CompositeCrossEntropy()


def _dense_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def architecture(model: Any) -> str:
    """'784→25→15→10'."""
    dense = _dense_layers(model)
    return "→".join([str(dense[0].kernel.shape[0])] + [str(layer.kernel.shape[1]) for layer in dense])


def load_model_weights(model: Any, weights: dict[str, np.ndarray], source: str) -> None:
    """Put checkpoint weights into the model; a different architecture -> UsageError naming the mismatch."""
    try:
        model.set_weights(weights, source=f"checkpoint {source}")
    except ValueError as e:
        raise UsageError(f"cannot resume: {e} (this run builds {architecture(model)})") from None


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffled order of epoch `epoch`: a function of (seed, epoch) only, so a resumed run repeats it."""
    return np.random.default_rng([seed, epoch]).permutation(n)


RUNS = Path("minigrad-runs")


def default_run_path(dataset: str) -> Path:
    """minigrad-runs/<dataset>-<YYYYmmdd-HHMMSS>/checkpoint.npz in a folder this call creates for the run.

    os.mkdir either creates the folder or fails because it exists, so two runs started in the same second
    (two terminals, a sweep) never share one: the later gets a -2, -3... suffix. The names sort by time.
    """
    name = _run_name(dataset)
    RUNS.mkdir(exist_ok=True)
    folder, n = RUNS / name, 1
    while True:
        try:
            folder.mkdir()
            return folder / "checkpoint.npz"
        except FileExistsError:
            n += 1
            folder = RUNS / f"{name}-{n}"


def _run_name(dataset: str) -> str:
    """<dataset>-<YYYYmmdd-HHMMSS>: a run folder's name, sortable by time."""
    return f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def _check_writable(path: Path, flag: str = "--save", what: str = "the checkpoint",
                    example: str = "checkpoint.npz") -> None:
    """Fail before the work, not after it, when `path` cannot be written (creates nothing)."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file path such as {path / example}")
    existing = path.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {path}: {existing} is not a writable folder")


class _StopFlag:
    """SIGINT outside fit (between epochs): note it; the loop stops at the next epoch boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _StopFlag:  # noqa: PYI034 (Self needs Python 3.11)
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)


def _interactive(plain: bool) -> bool:
    return not plain and sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


def use_one_blas_thread() -> bool:
    """Ask numpy's BLAS to use one thread; True if a BLAS was found and limited.

    The trainer's products (128×784 @ 784×25) are too small to split between threads, and on a busy
    2-core machine OpenBLAS' spinning threads made each one 5-80× slower (measured 0.2 ms with one
    thread, 1-17 ms with two). Left alone when the user set OPENBLAS_NUM_THREADS or OMP_NUM_THREADS.
    threadpoolctl finds the BLAS that numpy loaded, on every platform numpy runs on.
    """
    if "OPENBLAS_NUM_THREADS" in os.environ or "OMP_NUM_THREADS" in os.environ:
        return False
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=1, user_api="blas")
    return bool(limits.get_original_num_threads().get("blas"))


class TrainingRun:
    """One `minigrad train`: settings, data, model and optimizer (from a checkpoint when resuming)."""

    def __init__(self, args: argparse.Namespace) -> None:
        from viz.checkpoint import CheckpointError, load_checkpoint, metrics_path

        self.wall_start = time.perf_counter()
        self.notes: list[str] = []
        checkpoint = None
        if args.resume is not None:
            try:
                checkpoint = load_checkpoint(args.resume)
            except CheckpointError as e:
                raise UsageError(f"cannot resume: {e}") from None
        self.settings = s = resolve_settings(args, checkpoint.args if checkpoint else None, args.resume)
        given = args.save or args.resume
        # the default run folder is created only once the run can start (below): a refused run leaves none
        self.save_path = Path(given) if given else RUNS / _run_name(s.dataset) / "checkpoint.npz"
        self.run_folder: Path | None = None  # the folder created for this run's default checkpoint path
        self.interrupted = False  # a Ctrl-C asked for the latest save (its error message says so)
        _check_writable(self.save_path)

        (images, labels), (test_images, test_labels) = load_dataset(s.dataset)
        available = len(images) - VALIDATION_SIZE
        if s.limit is not None and s.limit > available:
            raise UsageError(f"--limit {s.limit} is more than the {available:,} training images "
                             f"(the last {VALIDATION_SIZE:,} are kept for validation)")
        self.n_train = n = s.limit or available
        self.x_train, self.y_train = _as_inputs(images[:n]), np.asarray(labels[:n], dtype=np.int64)
        self._x_epoch: np.ndarray | None = None  # the shuffled epoch, gathered in place each epoch
        self.x_val, self.y_val = _as_inputs(images[available:]), np.asarray(labels[available:], dtype=np.int64)
        self.test_images, self.y_test = test_images, np.asarray(test_labels, dtype=np.int64)
        self.class_names = FASHION_CLASSES if s.dataset == "fashion-mnist" else tuple(str(i) for i in range(10))
        self.steps = -(-n // s.batch_size)

        self.model = build_model(s.hidden, s.loss, s.seed, self.x_train.shape[1])
        self.optimizer = make_optimizer(s.optimizer, s.lr)
        self.history: dict[str, list[float]] = {}
        self.epoch, self.batch = 0, 0  # where training stands: epochs done, batches of the next one done
        self.partial: dict[str, float] = {}  # train metrics of those batches (see Checkpoint.partial)
        if checkpoint is not None:
            self._restore(checkpoint, args.resume)
        self.model.compile(optimizer=self.optimizer, loss=make_loss(s.loss), metrics=["accuracy"])
        self.evaluating_only = self.epoch >= s.epochs  # a resume already at --epochs: nothing to train
        if not given:
            try:
                self.save_path = default_run_path(s.dataset)
            except OSError as e:
                raise UsageError(f"cannot create a run folder in {RUNS.absolute()} ({e.strerror or e}); give the "
                                 "checkpoint's path with --save PATH") from None
            self.run_folder = self.save_path.parent
        self.metrics_path = metrics_path(self.save_path)

    def _restore(self, checkpoint: Any, source: str) -> None:
        s = self.settings
        load_model_weights(self.model, checkpoint.weights, source)
        try:
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
        except ValueError as e:
            raise UsageError(f"cannot resume: checkpoint {source} has an optimizer state this run cannot use "
                             f"({e})") from None
        self.optimizer.learning_rate = s.lr  # load_state_dict restored the saved rate; --lr may change it
        self.history = {k: list(v) for k, v in checkpoint.history.items()}
        self.epoch, self.batch = checkpoint.epoch, min(checkpoint.batch, self.steps)
        self.partial = dict(checkpoint.partial) if self.batch else {}
        saved = checkpoint.args
        if self.batch and not all(saved.get(k) == getattr(s, k) for k in ("seed", "limit", "batch_size")):
            self.notes.append(f"epoch {self.epoch + 1} restarted from its first batch: --seed, --limit or "
                              "--batch-size changed, so the batches already done cannot be skipped")
            self.batch, self.partial = 0, {}

    @property
    def title(self) -> str:
        s = self.settings
        loss = ("linear outputs → softmax_cross_entropy (fused)" if s.loss == "fused"
                else "softmax outputs → cross_entropy (composite)")
        return (f"minigrad · {s.dataset} · {architecture(self.model)} · {loss} · {s.optimizer} lr {s.lr:g} · "
                f"batch {s.batch_size} · seed {s.seed}")

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """The network's class probabilities for a float batch, without recording a graph."""
        import minigrad as mg
        import minigrad.functional as F

        with mg.no_grad():
            out = self.model(batch.reshape(len(batch), -1))
            if self.settings.loss == "fused":  # linear outputs: apply the softmax the fused loss has inside
                out = F.softmax(out)
        return np.asarray(out.data, dtype=np.float64)

    def run_info(self) -> Any:
        from viz.trainer import RunInfo

        s = self.settings
        shown = np.random.default_rng(s.seed).choice(len(self.test_images), size=16, replace=False)
        layers = [(layer.name, f"{layer.kernel.shape[0]}→{layer.kernel.shape[1]}", layer.kernel)
                  for layer in _dense_layers(self.model)]
        return RunInfo(epochs=s.epochs, steps_per_epoch=self.steps, batch_size=s.batch_size,
                       initial_epoch=min(self.epoch, s.epochs), initial_batch=self.batch,
                       initial_partial=dict(self.partial), title=self.title,
                       class_names=self.class_names, digits=np.asarray(self.test_images[shown]),
                       digit_labels=self.y_test[shown], probe=self.probabilities, layers=layers)

    def save(self) -> None:
        """Checkpoint and metrics, atomically, at the current position; an OSError -> WriteError naming the file."""
        from viz.checkpoint import Checkpoint, save_checkpoint, write_metrics

        # by key (`layer0.kernel`), not Keras' get_weights() list: the keys let a resume check the layers
        checkpoint = Checkpoint(
            weights=self.model.weights_by_key(), optimizer_state=self.optimizer.state_dict(), epoch=self.epoch,
            batch=self.batch, partial=self.partial, history=self.history, args=self.settings.as_dict())
        # _check_writable cannot foresee a full disk or a folder that refuses even root (/proc): the OS error
        # names the temporary file, so say which of the user's files was not written, and why
        try:
            save_checkpoint(self.save_path, checkpoint)
        except OSError as e:
            lost = "" if self.epoch == 0 and self.batch == 0 else \
                ": the weights trained since the last checkpoint are not saved"
            raise WriteError(f"could not write the checkpoint {self.save_path} ({e.strerror or e}){lost}") from None
        try:
            write_metrics(self.metrics_path, self.history)
        except OSError as e:
            raise WriteError(f"could not write the metrics {self.metrics_path} ({e.strerror or e}), though the "
                             f"checkpoint {self.save_path} was saved") from None

    def train(self, monitor: Any, stop: _StopFlag) -> bool:
        """Fit epoch by epoch (each in its seeded order), saving after each; False if interrupted."""
        s = self.settings
        while self.epoch < s.epochs:
            epoch, first = self.epoch, self.batch
            order = epoch_order(s.seed, epoch, self.n_train)[first * s.batch_size:]
            monitor.set_batch_offset(first)
            started = time.perf_counter()
            if len(order):
                # The epoch's order gathered into one buffer kept across epochs: a fresh 172 MB copy
                # per epoch cost a third of the training time; mode="clip" (the order is a permutation,
                # always in range) spares numpy a bounds-checked temporary.
                if self._x_epoch is None:
                    self._x_epoch = np.empty_like(self.x_train)
                x_epoch = np.take(self.x_train, order, axis=0, out=self._x_epoch[:len(order)], mode="clip")
            # A Ctrl-C since the last fit (during the save, the gather or the probes) only set the flag:
            # fit installs its own handler with a fresh one, so without this check it would train a whole
            # epoch more. Saving again costs little and gives the resume hint a file even before epoch 1.
            if stop.requested:
                self.interrupted = True
                self.save()
                return False
            if len(order):
                fitted = self.model.fit(x_epoch, self.y_train[order], batch_size=s.batch_size,
                                        epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0,
                                        validation_data=(self.x_val, self.y_val), callbacks=[monitor])
                logs = {k: v[-1] for k, v in fitted.history.items() if v}
                interrupted = fitted.interrupted or stop.requested
            else:  # resumed after the epoch's last batch: only its validation is missing
                monitor.on_epoch_begin(epoch)
                val = self.model.evaluate(self.x_val, self.y_val, batch_size=1000)
                logs = {"val_" + k: v for k, v in val.items()}
                monitor.on_epoch_end(epoch, dict(logs))
                interrupted = stop.requested
            if logs:  # the epoch is complete
                logs.update(self._merge_partial(logs, len(order)))
                logs["epoch_time"] = time.perf_counter() - started
                for key, value in logs.items():
                    self.history.setdefault(key, []).append(float(value))
                self.epoch, self.batch, self.partial = epoch + 1, 0, {}
            else:
                progress = monitor.progress
                self.batch = first + progress.batches_done - progress.batch_offset
                samples = self.partial.get("samples", 0) + progress.epoch_samples
                self.partial = {**self._merge_partial(progress.fit_logs, progress.epoch_samples),
                                "samples": samples}
            self.interrupted = interrupted
            self.save()
            if interrupted:
                return False
        return True

    def _merge_partial(self, means: dict[str, float], samples: int) -> dict[str, float]:
        """Train means over this epoch's batches before an interrupt (self.partial) and after it."""
        from viz.trainer import merge_partial  # the one the monitor prints with: the figures agree

        return merge_partial(self.partial, means, samples)

    def evaluate(self, train_time: float) -> Any:
        from viz.checkpoint import write_metrics
        from viz.trainer import RunSummary

        x_test = _as_inputs(self.test_images)
        predictions = np.asarray(self.model.predict(x_test, batch_size=1000)).argmax(axis=-1)
        accuracy = float(np.mean(predictions == self.y_test))
        write_metrics(self.metrics_path, self.history, extra={"test_accuracy": accuracy, "after_epochs": self.epoch})
        return RunSummary(test_accuracy=accuracy, y_true=self.y_test, y_pred=predictions,
                          class_names=self.class_names, wall_time=time.perf_counter() - self.wall_start,
                          train_time=train_time, epochs_done=self.epoch, checkpoint=str(self.save_path),
                          metrics=str(self.metrics_path), notes=self.notes)

    def remove_empty_run_folder(self) -> None:
        """Remove the folder created for this run if nothing was saved in it."""
        if self.run_folder is not None:
            with contextlib.suppress(OSError):  # not empty (the usual case), or already gone
                self.run_folder.rmdir()
                self.run_folder.parent.rmdir()  # minigrad-runs/ too, when this run's folder was all it held

    def resume_point(self) -> str:
        """Where the last save stands: 'after epoch 2' or 'in epoch 3 after batch 130/430'."""
        if self.batch == 0:
            return f"after epoch {self.epoch}" if self.epoch else "before the first batch, with nothing trained yet"
        return f"in epoch {self.epoch + 1} after batch {self.batch}/{self.steps}"

    def resume_hint(self) -> list[str]:
        return [f"interrupted {self.resume_point()}; checkpoint saved to {self.save_path}",
                f"metrics: {self.metrics_path}",
                f"resume with: {_command_name()} train --resume {shlex.quote(str(self.save_path))}"]


def train(args: argparse.Namespace) -> int:
    """`minigrad train`: returns the exit code."""
    use_one_blas_thread()
    run = TrainingRun(args)
    try:
        return _train(run, args)
    finally:  # a run stopped before its first save leaves no empty folder in minigrad-runs
        run.remove_empty_run_folder()


def _train(run: TrainingRun, args: argparse.Namespace) -> int:
    from viz.trainer import PlainLog, TrainingDashboard, summary_lines, summary_renderable

    info = run.run_info()
    live = _interactive(args.plain)
    if live:
        from rich.console import Console

        console = Console(highlight=False)
        monitor: Any = TrainingDashboard(info, console=console)

        def say(text: str) -> None:
            console.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        monitor = PlainLog(info, every=max(1, min(PLAIN_EVERY, run.steps // 4)))
        say = monitor.write
    if run.evaluating_only:  # said first: what follows is the evaluation, not training (and no dashboard)
        say(run.title)
        trained = f"{run.epoch} epoch{'' if run.epoch == 1 else 's'}"
        say(f"the checkpoint has already trained {trained} (--epochs {run.settings.epochs}): evaluating only, on "
            f"the {len(run.y_test):,} test images")
    elif not live:  # the dashboard shows the title itself
        say(run.title)
        say(f"training on {run.n_train:,} images, validating on the last {VALIDATION_SIZE:,} training images, "
            f"testing on {len(run.y_test):,}")
    train_start = time.perf_counter()
    try:
        with _StopFlag() as stop, monitor if live and not run.evaluating_only else contextlib.nullcontext():
            finished = run.train(monitor, stop)
            if not finished and live:
                monitor.status = "interrupted"
    except WriteError as e:  # the epochs trained live only in memory now: say how far the run got
        epochs = run.settings.epochs
        where = run.resume_point() + (f" (of {epochs})" if run.epoch or run.batch else "")
        if run.epoch >= epochs:
            done = f"training finished ({epochs} epoch{'' if epochs == 1 else 's'}), but"
        else:  # a Ctrl-C asked for the save that failed, or the failed save stopped the run
            done = f"interrupted {where}, and it" if run.interrupted else f"stopped {where} because it"
        raise WriteError(f"minigrad train: {done} {e}") from None
    except KeyboardInterrupt:  # a second Ctrl-C stops mid-batch: the weights may be half-updated, keep the file
        if run.save_path.exists():
            say(f"stopped at once by a second Ctrl-C; the last checkpoint ({run.resume_point()}) is {run.save_path}")
            say(f"resume with: {_command_name()} train --resume {shlex.quote(str(run.save_path))}")
        else:
            say("stopped at once by a second Ctrl-C, before the first checkpoint was saved")
        return 130
    if not finished:
        for line in run.resume_hint():
            say(line)
        return 130
    summary = run.evaluate(time.perf_counter() - train_start)
    if live:
        console.print(summary_renderable(summary))
        say(f"test accuracy: {summary.test_accuracy:.4f}")
    else:
        for line in summary_lines(summary):
            say(line)
    return 0


# ----- graph, demo, main ------------------------------------------------------------------------------------

def graph(args: argparse.Namespace) -> int:
    """`minigrad graph`: one training step on 16 MNIST images, its graph rendered to args.output."""
    import viz
    from viz.render import SUPPORTED_SUFFIXES

    # a bad suffix is known from the arguments: say so before loading MNIST and running the network
    suffix = Path(args.output).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UsageError(f"minigrad graph: cannot write '{args.output}': the suffix {suffix or '(none)'} is not "
                         f"supported; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    output = Path(args.output)
    try:  # a file where a folder should be (-o notes.txt/graph.svg): say so before any work, as train does
        _check_writable(output, flag="-o", what="the graph", example=f"graph{suffix}")
    except UsageError as e:
        raise UsageError(f"minigrad graph: {e}") from None
    use_one_blas_thread()
    (images, labels), _ = load_dataset("mnist")
    x, y = _as_inputs(images[:16]), np.asarray(labels[:16], dtype=np.int64)
    model = build_model(args.hidden, args.loss, seed=0, inputs=x.shape[1])
    loss = make_loss(args.loss)(y, model(x))
    loss.backward()  # the drawing shows the gradients; no optimizer step, it would not change the picture
    try:
        path = viz.render(loss, output)
    except viz.RenderError as e:  # no Graphviz engine: the environment, not a bug (exit 2, one sentence)
        raise UsageError(f"minigrad graph: {e}") from None
    except ValueError as e:  # e.g. an unsupported suffix
        raise UsageError(f"minigrad graph: {e}") from None
    except OSError as e:  # the folder checked above changed, or the disk is full: nothing was written
        raise WriteError(f"minigrad graph: could not write the graph {output}: {e.strerror or e}") from None
    print(path)
    return 0


def demo(args: argparse.Namespace) -> int:
    """`minigrad demo softmax`: the numerical-stability table."""
    from viz import softmax_demo

    softmax_demo.main()  # prints the table; it returns nothing
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the `minigrad` command with `argv` (default sys.argv[1:]); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError("minigrad: choose a command: train, graph or demo (see 'minigrad --help')")
        if args.command == "train":
            return train(args)
        if args.command == "graph":
            return graph(args)
        return demo(args)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    except WriteError as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C outside training (loading data, evaluating): nothing to save
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`minigrad train | head`): stop quietly, as other command-line tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
