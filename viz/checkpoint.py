"""Training checkpoints: weights, optimizer state, progress, metrics history and run settings in one .npz.

A checkpoint is a plain numpy `.npz` (no pickle) holding
- `weights/<key>`: the model's weights, keyed as `model.save_weights` keys them (`layer0.kernel`, ...);
- `optimizer/<n>`: the optimizer state's arrays, with the state's structure in the metadata;
- `meta.json`: a JSON document with the format version, the epochs (and batches of the next epoch)
  completed, the metrics history and the run's settings.

It is written atomically to exactly the path given, whatever its suffix. The metrics history is also
written as JSON lines beside it (`metrics_path`), one line per epoch, so runs can be compared with any
tool that reads JSON.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.nn.model import read_npz

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
    "metrics_path",
    "save_checkpoint",
    "write_metrics",
]

FORMAT = "minigrad-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not a minigrad checkpoint."""


@dataclass
class Checkpoint:
    """What a training run needs to continue exactly where it stopped."""

    weights: dict[str, np.ndarray]
    optimizer_state: Any
    epoch: int  # epochs completed
    batch: int = 0  # batches of epoch `epoch + 1` completed (an interrupt mid-epoch), else 0
    # the running train metrics of those batches and their sample count ({"loss", "accuracy", "samples"}),
    # so the resumed epoch reports the same means as an uninterrupted one
    partial: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


def _flatten_state(state: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Replace every array in a nested state by a reference into `arrays`; keep the rest as JSON."""
    if isinstance(state, dict):
        for key in state:
            if not isinstance(key, str):
                raise TypeError(f"save_checkpoint: optimizer state keys must be strings, got {key!r}")
        return {"__dict__": {k: _flatten_state(v, arrays) for k, v in state.items()}}
    if isinstance(state, (list, tuple)):
        return {"__tuple__" if isinstance(state, tuple) else "__list__":
                [_flatten_state(v, arrays) for v in state]}
    if hasattr(state, "data") and isinstance(state.data, np.ndarray):  # a Tensor
        state = state.data
    if isinstance(state, np.ndarray):
        key = f"optimizer/{len(arrays)}"
        arrays[key] = state
        return {"__array__": key}
    if isinstance(state, np.generic):
        state = state.item()
    if state is None or isinstance(state, (bool, int, str)):
        return state
    if isinstance(state, float):
        # JSON has no inf/nan; keep them exact through a string
        return state if math.isfinite(state) else {"__float__": repr(state)}
    raise TypeError(f"save_checkpoint: cannot store a {type(state).__name__} in the optimizer state")


def _unflatten_state(node: Any, arrays: Any) -> Any:
    if isinstance(node, dict):
        if "__dict__" in node:
            return {k: _unflatten_state(v, arrays) for k, v in node["__dict__"].items()}
        if "__list__" in node:
            return [_unflatten_state(v, arrays) for v in node["__list__"]]
        if "__tuple__" in node:
            return tuple(_unflatten_state(v, arrays) for v in node["__tuple__"])
        if "__array__" in node:
            return np.array(arrays[node["__array__"]])
        if "__float__" in node:
            return float(node["__float__"])
        raise KeyError(f"unknown entry {sorted(node)}")
    return node


def _json_number(value: Any) -> Any:
    value = float(value)
    return value if math.isfinite(value) else None


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temporary file in the same folder, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # open(..., "xb") rather than mkstemp: the file gets the usual permissions (umask), not 0600
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> Path:
    """Write `checkpoint` atomically to exactly `path` (any suffix); returns the path."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {f"weights/{k}": np.asarray(v) for k, v in checkpoint.weights.items()}
    optimizer = _flatten_state(checkpoint.optimizer_state, arrays)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(checkpoint.epoch),
        "batch": int(checkpoint.batch),
        "partial": {k: _json_number(v) for k, v in checkpoint.partial.items()},
        "history": {k: [_json_number(v) for v in values] for k, values in checkpoint.history.items()},
        "args": checkpoint.args,
        "optimizer": optimizer,
    }
    arrays["meta.json"] = np.array(json.dumps(meta))
    # A file object, not a name: np.savez would append ".npz" to a name without that suffix.
    _atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`; CheckpointError says what is wrong."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder; pass the checkpoint file inside it")
    try:
        arrays = read_npz(path)
    except ValueError as why:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or not a minigrad checkpoint ({why})") from None
    if "meta.json" not in arrays:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a minigrad checkpoint (it has no meta.json entry)")
    try:
        meta = json.loads(str(arrays.pop("meta.json")))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}")
        if meta.get("version") != VERSION:
            raise ValueError(f"format version {meta.get('version')!r}, this minigrad reads version {VERSION}")
        weights = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
        if not weights:
            raise ValueError("it holds no weights")
        history = {k: [math.nan if v is None else float(v) for v in values]
                   for k, values in meta["history"].items()}
        return Checkpoint(weights=weights, optimizer_state=_unflatten_state(meta["optimizer"], arrays),
                          epoch=int(meta["epoch"]), batch=int(meta.get("batch", 0)), history=history,
                          partial={k: float(v) for k, v in meta.get("partial", {}).items() if v is not None},
                          args=dict(meta["args"]))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a usable minigrad checkpoint ({e})") from None


def metrics_path(checkpoint_path: str | os.PathLike) -> Path:
    """Where the JSON-lines metrics go: `metrics.jsonl` beside `checkpoint.npz`, else `<stem>.metrics.jsonl`.

    Several checkpoints saved with `--save` into one folder keep one metrics file each.
    """
    path = Path(checkpoint_path)
    if path.name == "checkpoint.npz":
        return path.with_name("metrics.jsonl")
    return path.with_name(f"{path.stem}.metrics.jsonl")


def write_metrics(path: str | os.PathLike, history: dict[str, list[float]],
                  extra: dict[str, Any] | None = None) -> Path:
    """Write the history as JSON lines, one object per epoch (`{"epoch": 1, "loss": ...}`), atomically.

    `extra` (e.g. the final test accuracy) becomes one last line.
    """
    path = Path(path)
    epochs = max((len(v) for v in history.values()), default=0)
    lines = []
    for i in range(epochs):
        row: dict[str, Any] = {"epoch": i + 1}
        for name, values in history.items():
            if i < len(values):
                row[name] = _json_number(values[i])
        lines.append(json.dumps(row))
    if extra:
        lines.append(json.dumps(extra))
    text = "".join(line + "\n" for line in lines)
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path
