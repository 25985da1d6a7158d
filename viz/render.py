"""Turning DOT text into files: find a Graphviz engine, run it, write the result atomically.

The engine is the system Graphviz `dot` when it is on PATH, else the pip-installed `graphviz-pure`
(same command line), looked up on PATH and then next to the running Python — a Jupyter kernel or
`venv/bin/python script.py` often runs without the environment's `bin/` on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path
from typing import Any

from minigrad.graph import backward_steps, trace
from minigrad.tensor import Tensor
from viz.dot import build_drawing, to_dot, write_dot

__all__ = [
    "SUPPORTED_SUFFIXES",
    "RenderError",
    "find_engine",
    "render",
    "render_backward",
    "run_engine",
    "to_svg",
]

SUPPORTED_SUFFIXES = (".svg", ".png", ".dot")
ENGINE_TIMEOUT = 120.0  # seconds; a 1,000-node graph takes about one


class RenderError(RuntimeError):
    """No Graphviz engine was found, or it failed; the message says what to do."""


def _executable(name: str) -> str:
    return f"{name}.exe" if os.name == "nt" else name


def _interpreter_dirs() -> list[Path]:
    """Where pip put the running environment's scripts: next to sys.executable, and sysconfig's 'scripts'."""
    dirs: list[Path] = []
    if sys.executable:
        # not .resolve(): a venv's python is a symlink to the base interpreter, the scripts are beside the link
        dirs.append(Path(sys.executable).parent)
    scripts = sysconfig.get_path("scripts")
    if scripts:
        dirs.append(Path(scripts))
    return list(dict.fromkeys(dirs))


def find_engine() -> Path:
    """The Graphviz program to run: `dot` on PATH, else `graphviz-pure` on PATH, else next to Python."""
    looked = []
    for name in ("dot", "graphviz-pure"):
        found = shutil.which(name)
        if found:
            return Path(found)
        looked.append(f"'{name}' on PATH")
    for folder in _interpreter_dirs():
        candidate = folder / _executable("graphviz-pure")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        looked.append(str(candidate))
    raise RenderError(
        "no Graphviz engine found to render the drawing (looked for " + ", ".join(looked) + "). "
        "Install one: `pip install graphviz-pure` (no system packages needed) or the system Graphviz "
        "(`apt install graphviz`, `brew install graphviz`). viz.to_dot(...) gives the DOT text without one.")


def run_engine(source: str, fmt: str, *, dpi: float | None = None, timeout: float = ENGINE_TIMEOUT) -> bytes:
    """Lay out and draw DOT `source` in format `fmt` ('svg', 'png'); the engine's output bytes."""
    engine = find_engine()
    command = [str(engine), f"-T{fmt}"]
    if dpi is not None:
        command.append(f"-Gdpi={dpi:g}")
    try:
        done = subprocess.run(command, input=source.encode("utf-8"), capture_output=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"{engine.name} did not finish drawing within {timeout:g} s; the graph is probably too "
                          "large to lay out: pass depth=1 (or depth=0) to collapse scopes") from None
    except OSError as exc:
        raise RenderError(f"could not run {engine}: {exc}") from None
    if done.returncode != 0 or not done.stdout:
        stderr = done.stderr.decode("utf-8", "replace").strip() or "(nothing on stderr)"
        raise RenderError(f"{engine} -T{fmt} failed with exit code {done.returncode}: {stderr}")
    return done.stdout


def _write_atomic(path: Path, data: bytes) -> None:
    # A temp file in the same folder, then os.replace: a reader never sees half a picture. Created with
    # os.open(..., 0o666) rather than mkstemp (0600): the kernel applies the umask, as for any new file, and
    # nothing has to read the umask by flipping it (os.umask is process-wide, racy with other threads).
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(f"render: cannot write '{path.name}': the suffix {suffix or '(none)'} is not supported; "
                         f"use one of {', '.join(SUPPORTED_SUFFIXES)}")
    return suffix[1:]


def render(target: Any, path: str | os.PathLike, *, dpi: float | None = None, timeout: float = ENGINE_TIMEOUT,
           **to_dot_options: Any) -> Path:
    """Write `to_dot(target, **to_dot_options)` to `path` as .svg, .png or .dot (by suffix); returns the path."""
    path = Path(path)
    fmt = _format_of(path)
    source = to_dot(target, **to_dot_options)
    data = source.encode("utf-8") if fmt == "dot" else run_engine(source, fmt, dpi=dpi, timeout=timeout)
    _write_atomic(path, data)
    return path


def to_svg(target: Any, **to_dot_options: Any) -> str:
    """SVG text of the drawing (what `Graph._repr_svg_` shows in Jupyter)."""
    return run_engine(to_dot(target, **to_dot_options), "svg").decode("utf-8")


def render_backward(loss: Tensor, folder: str | os.PathLike, fmt: str = "svg", **to_dot_options: Any) -> list[Path]:
    """Run `loss`'s backward one node at a time, writing step_000 (before) ... step_N: one picture per step.

    Each frame highlights the node being processed (thick blue border) and shows the gradients
    known so far; the leaves end up with the same `.grad` as after `loss.backward()`. Frames of an
    earlier run in `folder` (step_*.<fmt>) are deleted first; other files are left alone.
    """
    fmt = fmt.lower().lstrip(".")
    if f".{fmt}" not in SUPPORTED_SUFFIXES:
        raise ValueError(f"render_backward: fmt {fmt!r} is not supported; use one of svg, png, dot")
    if not isinstance(loss, Tensor):
        raise TypeError(f"render_backward: expected the loss Tensor, got {type(loss).__name__}")
    if fmt != "dot":
        find_engine()  # fail before running the backward, not after
    to_dot_options.setdefault("grads", True)
    dpi = to_dot_options.pop("dpi", None)
    graph = trace(loss)
    total = len(graph.nodes)
    width = max(3, len(str(total)))
    leaves_before = {id(leaf): leaf.grad for leaf in graph.leaves}
    known: set[int] = set()

    def frame(title: str, current: Any = None) -> str:
        return write_dot(build_drawing(graph, current=current, known=set(known), title=title, **to_dot_options))

    sources = [frame(f"backward: {total} step{'s' if total != 1 else ''} to go (no gradients yet)")]
    for step in backward_steps(loss):
        known.add(id(step.node))
        known.update(id(leaf) for leaf in graph.leaves if leaf.grad is not leaves_before[id(leaf)])
        where = f" [{step.node.scope}]" if step.node.scope else ""
        sources.append(frame(f"backward step {step.index + 1}/{total}: {step.node.op}{where}   {step.rule}",
                             current=step.node))
    folder = Path(folder)
    # frames of an earlier, longer run would otherwise sit after this run's last one and play as if its own
    stale = re.compile(rf"step_\d+\.{re.escape(fmt)}")
    if folder.is_dir():
        for old in folder.iterdir():
            if stale.fullmatch(old.name) and old.is_file():
                old.unlink()
    written = []
    for k, source in enumerate(sources):
        path = folder / f"step_{k:0{width}d}.{fmt}"
        data = source.encode("utf-8") if fmt == "dot" else run_engine(source, fmt, dpi=dpi)
        _write_atomic(path, data)
        written.append(path)
    return written
