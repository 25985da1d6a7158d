"""MNIST (shipped inside the package) and Fashion-MNIST (found on disk or downloaded), checksummed, cached.

Both loaders return `(x_train, y_train), (x_test, y_test)`: uint8 arrays of shapes (60000, 28, 28),
(60000,), (10000, 28, 28), (10000,). The arrays are read-only views of an in-memory cache, so a second
call costs nothing and no caller can change what the next one gets; `x.astype("float32") / 255` (or
`x.copy()`) gives an array of your own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.datasets.idx import read_idx

__all__ = ["FASHION_MNIST_URL", "load_fashion_mnist", "load_mnist"]

Split = tuple[np.ndarray, np.ndarray]

# The four files, in the order the loaders return them. Both datasets use the same names.
FILE_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# MD5s of the *uncompressed* files: they survive recompression. Debian's dataset-fashion-mnist
# re-gzips Zalando's files (dropping the name from the gzip header), so the MD5s Zalando publishes
# for the .gz files (8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...) match the download but not
# Debian's copy, while these match both.
MNIST_MD5 = ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
             "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637")
FASHION_MNIST_MD5 = ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                     "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965")

FASHION_MNIST_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion"
_FASHION_MNIST_HOME = "https://github.com/zalandoresearch/fashion-mnist"
_PACKAGE_MNIST_DIR = Path(__file__).resolve().parent / "data" / "mnist"
_SYSTEM_FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)  # Debian's dataset-fashion-mnist
_DOWNLOAD_TIMEOUT = 10.0  # seconds without a byte before giving up: fail fast when offline

# Decoded arrays, keyed by the files' paths, sizes and modification times (a replaced file reloads).
_CACHE: dict[tuple, tuple[np.ndarray, ...]] = {}
_CACHE_LOCK = threading.Lock()


def load_mnist(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """MNIST as (x_train, y_train), (x_test, y_test) uint8 read-only arrays, from the package or `path`."""
    if path is None:
        directory = _PACKAGE_MNIST_DIR
        fix = "the file is corrupt: reinstall minigrad (pip install --force-reinstall minigrad)"
    else:
        directory = Path(path).expanduser()
        fix = "the file is corrupt or is not the original MNIST file: download it again"
    files, missing = _find_files(directory)
    if missing:
        where = "minigrad's bundled MNIST" if path is None else "MNIST"
        todo = ("reinstall minigrad, or pass load_mnist(path=DIR)" if path is None
                else "put the four MNIST files (.gz or uncompressed) there")
        raise FileNotFoundError(f"load_mnist: {where} files are missing from {directory}: "
                                f"{', '.join(missing)}; {todo}")
    return _load_verified(files, MNIST_MD5, fix)


def load_fashion_mnist(path: str | os.PathLike | None = None, download: bool = True,
                       url: str | None = None) -> tuple[Split, Split]:
    """Fashion-MNIST like load_mnist: from `path`, $MINIGRAD_DATA, Debian's package, the cache or a download.

    Without `path` the four files (.gz or uncompressed) are looked for in `$MINIGRAD_DATA/fashion-mnist`,
    `$MINIGRAD_DATA`, `/usr/share/datasets/fashion-mnist` (`apt install dataset-fashion-mnist`) and
    `~/.cache/minigrad/fashion-mnist` (`$XDG_CACHE_HOME/minigrad/fashion-mnist` when that is set).
    If none has them and `download` is true, the missing files are downloaded into that cache from
    `url` (default `$MINIGRAD_FASHION_MNIST_URL`, else Zalando's GitHub), each checked against its MD5
    and moved into place only when whole. Any failure raises an error that lists every place looked
    and how to get the files (FileNotFoundError; ValueError for a corrupt file); nothing is left
    half-written.
    """
    if path is not None:
        directory = Path(path).expanduser()
        files, missing = _find_files(directory)
        if missing:
            raise FileNotFoundError(f"load_fashion_mnist: Fashion-MNIST files are missing from {directory}: "
                                    f"{', '.join(missing)}\n{_how_to_get_fashion_mnist()}")
        return _load_verified(files, FASHION_MNIST_MD5,
                              "the file is corrupt or is not the original Fashion-MNIST file: get it again")

    cache = _fashion_mnist_cache_dir()
    looked: list[str] = []
    for label, directory in _fashion_mnist_search_path(cache):
        if directory is None:
            looked.append(f"{label}: not set")
            continue
        files, missing = _find_files(directory)
        if not missing:
            fix = ("the cached file is corrupt: delete it and call load_fashion_mnist() again to download it"
                   if directory == cache else
                   "the file is corrupt or is not the original Fashion-MNIST file: get it again")
            return _load_verified(files, FASHION_MNIST_MD5, fix)
        looked.append(f"{directory} ({label}): " + (
            "no such directory" if not directory.is_dir() else
            f"{len(FILE_NAMES) - len(missing)} of {len(FILE_NAMES)} files, missing {', '.join(missing)}"))

    base = (url or os.environ.get("MINIGRAD_FASHION_MNIST_URL") or FASHION_MNIST_URL).rstrip("/")
    if not download:
        looked.append(f"download from {base}: not tried (download=False)")
        raise FileNotFoundError(_not_found_message(looked))
    files, missing = _find_files(cache)
    for name, expected_md5 in zip(FILE_NAMES, FASHION_MNIST_MD5):
        if name not in missing:
            continue
        source = f"{base}/{name}.gz"
        try:
            _download(source, cache / f"{name}.gz", expected_md5)
        except OSError as error:  # offline, refused, timed out, HTTP 404, unwritable cache, ...
            looked.append(f"download from {source}: failed ({error})")
            raise FileNotFoundError(_not_found_message(looked)) from error
    files, _ = _find_files(cache)
    return _load_verified(files, FASHION_MNIST_MD5,
                          "the cached file is corrupt: delete it and call load_fashion_mnist() again")


def _fashion_mnist_search_path(cache: Path) -> list[tuple[str, Path | None]]:
    env = os.environ.get("MINIGRAD_DATA")
    # The subfolder comes first: $MINIGRAD_DATA may itself hold MNIST's files, which have the same names.
    user = ([("$MINIGRAD_DATA/fashion-mnist", Path(env).expanduser() / "fashion-mnist"),
             ("$MINIGRAD_DATA", Path(env).expanduser())] if env else [("$MINIGRAD_DATA", None)])
    system = [("Debian's dataset-fashion-mnist", d) for d in _SYSTEM_FASHION_MNIST_DIRS]
    return [*user, *system, ("download cache", cache)]


def _fashion_mnist_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "minigrad" / "fashion-mnist"


def _how_to_get_fashion_mnist() -> str:
    names = ", ".join(f"{name}.gz" for name in FILE_NAMES)
    return ("To get Fashion-MNIST, either:\n"
            "  - sudo apt install dataset-fashion-mnist  (Debian/Ubuntu: /usr/share/datasets/fashion-mnist)\n"
            f"  - or download {names}\n"
            f"    from {_FASHION_MNIST_HOME} (folder data/fashion) into a directory DIR,\n"
            "    then set MINIGRAD_DATA=DIR or call load_fashion_mnist(path=DIR)")


def _not_found_message(looked: list[str]) -> str:
    places = "\n".join(f"  - {place}" for place in looked)
    return f"load_fashion_mnist: Fashion-MNIST not found. Looked in:\n{places}\n{_how_to_get_fashion_mnist()}"


def _find_files(directory: Path) -> tuple[list[Path], list[str]]:
    """The four files in `directory` (each `NAME.gz` or uncompressed `NAME`) and the names missing."""
    found, missing = [], []
    for name in FILE_NAMES:
        for candidate in (directory / f"{name}.gz", directory / name):
            if candidate.is_file():
                found.append(candidate)
                break
        else:
            missing.append(name)
    return found, missing


def _load_verified(files: list[Path], checksums: tuple[str, ...], fix: str) -> tuple[Split, Split]:
    """Decode the four files (or take them from the cache), checking each one's MD5 on first load."""
    key = tuple((str(f.resolve()), st.st_size, st.st_mtime_ns) for f in files for st in [f.stat()])
    with _CACHE_LOCK:
        arrays = _CACHE.get(key)
        if arrays is None:
            arrays = _decode_all(files, checksums, fix)
            for array in arrays:
                # Lock the whole chain down to the buffer that owns the memory; numpy lets a view be made
                # writeable again while that owner still is.
                while isinstance(array, np.ndarray):
                    array.flags.writeable = False
                    array = array.base
            _CACHE[key] = arrays
    # Fresh views of read-only arrays: unlike the cached arrays, a view cannot be made writeable again.
    x_train, y_train, x_test, y_test = (array.view() for array in arrays)
    return (x_train, y_train), (x_test, y_test)


def _decode_all(files: list[Path], checksums: tuple[str, ...], fix: str) -> tuple[np.ndarray, ...]:
    # One thread on purpose: hashing each chunk right after inflating it, while it is still in the CPU
    # cache, costs ~0.3 s of CPU for all of MNIST; a hashing thread or a file per thread saved little
    # on an idle machine and lost time on a busy one.
    return tuple(_decode_checked(file, md5, fix) for file, md5 in zip(files, checksums))


def _decode_checked(file: Path, expected_md5: str, fix: str) -> np.ndarray:
    """read_idx, raising ValueError with `fix` when the uncompressed bytes' MD5 is not `expected_md5`."""
    digest = hashlib.md5(usedforsecurity=False)
    array = read_idx(file, on_chunk=digest.update)
    if digest.hexdigest() != expected_md5:
        raise ValueError(f"{file}: checksum mismatch (MD5 of the uncompressed data is {digest.hexdigest()}, "
                         f"expected {expected_md5}): {fix}")
    return array


def _download(source: str, destination: Path, expected_md5: str) -> None:
    """Fetch `source` into `destination` atomically: temp file beside it, checked, then os.replace.

    The destination's folder is made only once the server answers, and removed again (with the parents
    made for it) when the download fails and leaves it empty: an offline call leaves no empty cache behind.
    """
    import http.client
    import urllib.request

    made = []  # the folders this download creates, deepest first
    folder = destination.parent
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    try:
        try:
            with urllib.request.urlopen(source, timeout=_DOWNLOAD_TIMEOUT) as response:
                destination.parent.mkdir(parents=True, exist_ok=True)
                _receive(response, source, destination, expected_md5)
        except http.client.HTTPException as error:  # e.g. IncompleteRead: a network failure like the OSErrors
            raise ConnectionError(f"{type(error).__name__}: {error}") from error
    except BaseException:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # not empty (another download wrote into it) or gone: keep the rest too
                break
        raise


def _receive(response: Any, source: str, destination: Path, expected_md5: str) -> None:
    """Write an open download into a temp file beside `destination`, check it, then move it into place."""
    import tempfile

    fd, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with _progress(destination.name, source, total) as advance:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    received += len(chunk)
                    advance(len(chunk))
        try:
            if total is not None and received != total:
                raise ValueError(f"truncated: the server announced {total} bytes but sent {received}")
            _decode_checked(temp, expected_md5, "the download is corrupt")
        except ValueError as error:
            reason = str(error).replace(f"{temp}: ", "")
            raise ValueError(f"load_fashion_mnist: the file downloaded from {source} is bad ({reason}); "
                             f"it was deleted. Try again later, or get the files another way:\n"
                             f"{_how_to_get_fashion_mnist()}") from None
        os.replace(temp, destination)
    finally:
        temp.unlink(missing_ok=True)


@contextlib.contextmanager
def _progress(name: str, source: str, total: int | None) -> Iterator[Callable[[int], object]]:
    """A rich progress bar on a terminal; otherwise one line before and one after."""
    if sys.stderr.isatty():
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
        except ImportError:
            pass
        else:
            columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                       TimeRemainingColumn())
            with Progress(*columns, console=Console(stderr=True)) as progress:
                task = progress.add_task(f"downloading {name}", total=total)
                yield lambda n: progress.advance(task, n)
            return
    print(f"minigrad: downloading {source} ...", file=sys.stderr, flush=True)
    received = [0]
    yield lambda n: received.__setitem__(0, received[0] + n)
    size = f"{received[0] / 1e6:.1f} MB" if received[0] >= 100_000 else f"{received[0] / 1e3:.1f} kB"
    print(f"minigrad: downloaded {name} ({size})", file=sys.stderr, flush=True)
