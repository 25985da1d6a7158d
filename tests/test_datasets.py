"""datasets: the IDX reader's errors, the bundled MNIST, Fashion-MNIST's search path and its download.

The download is tested against an HTTP server on 127.0.0.1; no test reaches the real network.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from minigrad import datasets
from minigrad.datasets import mnist as mnist_module
from minigrad.datasets.idx import IDX_DTYPES

SHARED = Path(__file__).resolve().parents[2] / "shared"
FASHION = SHARED / "data" / "fashion-mnist"
NAMES = mnist_module.FILE_NAMES
needs_fashion = pytest.mark.skipif(not all((FASHION / f"{n}.gz").is_file() for n in NAMES),
                                   reason="needs ../shared/data/fashion-mnist")

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def offline_home(tmp_path, monkeypatch):
    """Every test gets its own empty home and cache, no system copy, and a dead default URL."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("MINIGRAD_DATA", raising=False)
    # A safety net: a test that forgets url= fails fast on a closed local port instead of going online.
    monkeypatch.setenv("MINIGRAD_FASHION_MNIST_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(mnist_module, "_SYSTEM_FASHION_MNIST_DIRS", (tmp_path / "no-system-copy",))


def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "home" / ".cache" / "minigrad" / "fashion-mnist"


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype(d).newbyteorder("="): c for c, d in IDX_DTYPES.items()}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ---------------------------------------------------------------------------------------------- load_idx

@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_reads_every_idx_type_raw_and_gzip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    data = idx_bytes(array)
    # The name says the opposite of the content: gzip is told by its magic bytes, not by the name.
    path = tmp_path / ("plain.idx" if compress else "looks-compressed.gz")
    path.write_bytes(gzip.compress(data) if compress else data)
    loaded = datasets.load_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)
    loaded[0, 0, 0] = 1  # the caller owns what load_idx returns


def test_load_idx_reads_a_multi_member_gzip(tmp_path):
    array = np.arange(1000, dtype=np.int32).reshape(10, 100)
    data = idx_bytes(array)
    path = tmp_path / "two-members.gz"
    path.write_bytes(gzip.compress(data[:1234]) + gzip.compress(data[1234:]))
    np.testing.assert_array_equal(datasets.load_idx(path), array)


def _good() -> bytes:
    return idx_bytes(np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28))


def _corrupt_deflate(data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data))
    packed[20:40] = bytes(20)
    return bytes(packed)


BAD_FILES = {
    "empty": (lambda: b"", "found 0"),
    "truncated payload": (lambda: _good()[:16 + 100],
                          "truncated: expected 1568 bytes of data for a (2, 28, 28) uint8 array, found 100"),
    "truncated payload gzip": (lambda: gzip.compress(_good()[:500]), "truncated: expected 1568 bytes"),
    "truncated header": (lambda: _good()[:10], "truncated: the header declares 3 dimensions"),
    "bad magic": (lambda: b"\x12\x34" + _good()[2:], "not an IDX file: it starts with bytes 12 34"),
    "unknown dtype": (lambda: b"\x00\x00\x07" + _good()[3:], "unknown data type code 0x07"),
    "trailing bytes": (lambda: _good() + b"junk", "4 trailing bytes after the 1568 bytes"),
    "bad gzip": (lambda: _corrupt_deflate(_good()), "corrupt gzip data"),
    "bad gzip crc": (lambda: gzip.compress(_good())[:-8] + b"\x00" * 4 + gzip.compress(_good())[-4:],
                     "corrupt gzip data"),
    "cut gzip": (lambda: gzip.compress(_good())[:-30], "truncated: the gzip stream ends early"),
    "gzip trailing garbage": (lambda: gzip.compress(_good()) + b"garbage", "7 bytes of trailing garbage"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_load_idx_rejects_bad_files_naming_the_file_and_the_problem(tmp_path, case):
    make, expected = BAD_FILES[case]
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(make())
    with pytest.raises(ValueError) as info:
        datasets.load_idx(path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


HUGE_HEADERS = {  # headers claiming more than memory holds, in files of a few bytes
    "1 TiB": (b"\0\0\x08\x02" + struct.pack(">2I", 1 << 20, 1 << 20), "(1048576, 1048576) uint8"),
    "beyond numpy": (b"\0\0\x08\x04" + struct.pack(">4I", *[0xFFFFFFFF] * 4),
                     "(4294967295, 4294967295, 4294967295, 4294967295) uint8"),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", list(HUGE_HEADERS))
def test_load_idx_refuses_a_huge_header_before_allocating(tmp_path, case, compress):
    header, shape = HUGE_HEADERS[case]
    path = tmp_path / "corrupt-idx"
    path.write_bytes(gzip.compress(header) if compress else header)
    with pytest.raises(ValueError) as info:  # not MemoryError, not numpy's "maximum dimension exceeded"
        datasets.load_idx(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert shape in message
    assert ("more than this gzip file can hold" if compress else "found 0 (the file is cut short") in message


def test_load_idx_size_bound_admits_the_most_compressible_gzip(tmp_path):
    zeros = np.zeros((4, 1024, 1024), dtype=np.uint8)  # compresses close to deflate's 1032:1 limit
    path = tmp_path / "zeros.gz"
    path.write_bytes(gzip.compress(idx_bytes(zeros), compresslevel=9))
    np.testing.assert_array_equal(datasets.load_idx(path), zeros)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_load_idx_from_a_pipe_refuses_a_size_numpy_cannot_allocate(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)  # a pipe has no size to check against: the header alone must be judged
    writer = threading.Thread(target=path.write_bytes, args=(HUGE_HEADERS["beyond numpy"][0],))
    writer.start()
    try:
        with pytest.raises(ValueError, match=r"pipe: corrupt header: .* more than numpy can allocate"):
            datasets.load_idx(path)
    finally:
        writer.join(timeout=5)


def test_load_idx_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        datasets.load_idx(tmp_path / "nope.gz")


# ---------------------------------------------------------------------------------------------- MNIST

def test_load_mnist_shapes_dtypes_labels_and_checksums():
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert x_train.max() == 255 and x_train.min() == 0
    # Re-encoding the arrays gives back the original files, byte for byte.
    for array, md5 in zip((x_train, y_train, x_test, y_test), mnist_module.MNIST_MD5):
        assert hashlib.md5(idx_bytes(array)).hexdigest() == md5


def test_load_mnist_second_call_is_cached_and_read_only(monkeypatch):
    monkeypatch.setattr(mnist_module, "_CACHE", {})
    (x_train, _), _ = datasets.load_mnist()
    (x_again, _), _ = datasets.load_mnist()
    assert np.shares_memory(x_train, x_again)  # the same buffer, not a second decode (no timing: flaky)
    with pytest.raises(ValueError, match="read-only"):
        x_train[0, 0, 0] = 1
    with pytest.raises(ValueError):
        x_train.flags.writeable = True  # a view of a read-only array cannot be unlocked
    (x_third, _), _ = datasets.load_mnist()
    assert x_third.flags.writeable is False


def test_load_mnist_from_a_directory_checks_every_file(tmp_path):
    bundled = mnist_module._PACKAGE_MNIST_DIR
    for name in NAMES:
        (tmp_path / f"{name}.gz").symlink_to(bundled / f"{name}.gz")
    (x_train, _), _ = datasets.load_mnist(tmp_path)
    assert x_train.shape == (60000, 28, 28)

    # A file that is valid gzip and valid IDX but not MNIST's: only the checksum can tell.
    labels = idx_bytes(np.zeros(60000, dtype=np.uint8))
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)  # uncompressed files are found too
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: checksum mismatch .* corrupt"):
        datasets.load_mnist(tmp_path)

    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="missing from .*: train-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path)


def test_bundled_mnist_checksum_error_says_reinstall(tmp_path, monkeypatch):
    for name in NAMES:
        (tmp_path / f"{name}.gz").symlink_to(mnist_module._PACKAGE_MNIST_DIR / f"{name}.gz")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.ones(10000, np.uint8))))
    monkeypatch.setattr(mnist_module, "_PACKAGE_MNIST_DIR", tmp_path)
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch.*reinstall minigrad"):
        datasets.load_mnist()


def test_imports_stay_lazy_and_cheap():
    code = ("import sys, minigrad; assert 'minigrad.datasets' not in sys.modules; "
            "assert 'numpy.random' not in sys.modules, 'numpy.random imported eagerly'; "
            "import minigrad.datasets; "
            "print(sorted(m for m in ('urllib.request', 'http.client', 'rich', 'tempfile', 'gzip') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------- Fashion-MNIST

def check_fashion(splits) -> None:
    (x_train, y_train), (x_test, y_test) = splits
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_test.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10  # unlike MNIST, balanced classes
    assert np.bincount(y_test).tolist() == [1000] * 10


def link_fashion(directory: Path, names=NAMES) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / f"{name}.gz").symlink_to(FASHION / f"{name}.gz")


@needs_fashion
def test_fashion_from_minigrad_data_directly(monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(FASHION))
    check_fashion(datasets.load_fashion_mnist(download=False))


@needs_fashion
def test_fashion_subfolder_wins_over_mnist_files_beside_it(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    for name in NAMES:  # MNIST's files have the same names: the loader must not take them
        (data / f"{name}.gz").symlink_to(mnist_module._PACKAGE_MNIST_DIR / f"{name}.gz")
    link_fashion(data / "fashion-mnist")
    monkeypatch.setenv("MINIGRAD_DATA", str(data))
    check_fashion(datasets.load_fashion_mnist(download=False))


@needs_fashion
def test_fashion_from_the_system_directory(tmp_path, monkeypatch):
    link_fashion(tmp_path / "system")
    monkeypatch.setattr(mnist_module, "_SYSTEM_FASHION_MNIST_DIRS", (tmp_path / "system",))
    check_fashion(datasets.load_fashion_mnist(download=False))


def test_fashion_not_found_lists_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fashion_mnist(download=False)
    message = str(info.value)
    subfolder = tmp_path / "mine" / "fashion-mnist"
    assert f"{subfolder} ($MINIGRAD_DATA/fashion-mnist): no such directory" in message
    assert f"{tmp_path / 'mine'} ($MINIGRAD_DATA): 1 of 4 files, missing train-labels-idx1-ubyte" in message
    assert f"{tmp_path / 'no-system-copy'} (Debian's dataset-fashion-mnist): no such directory" in message
    assert f"{cache_dir(tmp_path)} (download cache)" in message
    assert "not tried (download=False)" in message
    assert "apt install dataset-fashion-mnist" in message and "MINIGRAD_DATA=DIR" in message


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    short_names: ClassVar[set[str]] = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.short_names:
            return super().do_GET()
        # Announce the whole file, send half of it, hang up: a transfer cut short.
        body = (Path(self.directory) / "fashion" / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True


@pytest.fixture
def server(tmp_path):
    """(directory served at <url>, url): an HTTP server on 127.0.0.1, shut down after the test."""
    root = tmp_path / "served"
    (root / "fashion").mkdir(parents=True)
    handler = type("Handler", (QuietHandler,), {"short_names": set()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root / "fashion", f"http://127.0.0.1:{httpd.server_address[1]}/fashion/", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@needs_fashion
def test_fashion_download_is_checked_and_cached(tmp_path, server, capsys):
    served, url, _ = server
    link_fashion(served)
    check_fashion(datasets.load_fashion_mnist(url=url))
    cache = cache_dir(tmp_path)
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in NAMES)  # no temp files
    assert "downloading" in capsys.readouterr().err
    # From the cache now, with no server needed.
    check_fashion(datasets.load_fashion_mnist(download=False))


@needs_fashion
@pytest.mark.parametrize("fault, expected", [
    ("corrupt", "checksum mismatch"),
    ("truncated file", "truncated: the gzip stream ends early"),
    ("cut transfer", "truncated: the server announced"),
])
def test_fashion_bad_download_is_deleted_with_a_clear_error(tmp_path, server, fault, expected):
    served, url, handler = server
    cache = cache_dir(tmp_path)
    link_fashion(cache, NAMES[:3])  # only the small test labels are left to download
    link_fashion(served, NAMES[:3])
    bad = "t10k-labels-idx1-ubyte.gz"
    real = (FASHION / bad).read_bytes()
    if fault == "corrupt":  # valid gzip, valid IDX, one label changed: only the MD5 can tell
        labels = bytearray(gzip.decompress(real))
        labels[100] = (labels[100] + 1) % 10
        (served / bad).write_bytes(gzip.compress(bytes(labels)))
    elif fault == "truncated file":
        (served / bad).write_bytes(real[: len(real) // 2])
    else:
        (served / bad).write_bytes(real)
        handler.short_names.add(bad)
    with pytest.raises(ValueError) as info:
        datasets.load_fashion_mnist(url=url)
    message = str(info.value)
    assert f"downloaded from {url}{bad}" in message and expected in message and "deleted" in message
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in NAMES[:3])


def test_fashion_server_down_lists_places_and_leaves_nothing(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        datasets.load_fashion_mnist(url=url)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "$MINIGRAD_DATA: not set" in message
    assert str(tmp_path / "no-system-copy") in message and str(cache_dir(tmp_path)) in message
    assert f"download from {url}/train-images-idx3-ubyte.gz: failed" in message
    assert "apt install dataset-fashion-mnist" in message
    assert not (tmp_path / "home").exists()  # no cache folder (nor its parents) made for nothing


@pytest.mark.parametrize("failure", ["offline", "bad file"])
def test_a_failed_download_leaves_no_empty_cache_folder(tmp_path, server, monkeypatch, failure):
    served, url, _ = server
    (tmp_path / "home" / ".cache").mkdir(parents=True)  # a usual home: ~/.cache is there, minigrad's is not
    if failure == "offline":
        import urllib.error
        import urllib.request

        def no_network(*args, **kwargs):
            raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

        monkeypatch.setattr(urllib.request, "urlopen", no_network)
    else:  # the server answers, the file fails its check: the folder was made, then must go again
        (served / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((2, 2), np.uint8))))
    error = FileNotFoundError if failure == "offline" else ValueError
    with pytest.raises(error):
        datasets.load_fashion_mnist(url=url)
    assert os.listdir(tmp_path / "home" / ".cache") == []
    with pytest.raises(FileNotFoundError) as info:  # and the next error says the cache does not exist
        datasets.load_fashion_mnist(download=False)
    assert f"{cache_dir(tmp_path)} (download cache): no such directory" in str(info.value)


def test_fashion_url_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_FASHION_MNIST_URL", "http://127.0.0.1:9/from-env/")
    with pytest.raises(FileNotFoundError, match="download from http://127.0.0.1:9/from-env/train-images"):
        datasets.load_fashion_mnist()


def test_fashion_cache_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(FileNotFoundError, match="xdg/minigrad/fashion-mnist \\(download cache\\)"):
        datasets.load_fashion_mnist(download=False)


def test_load_idx_reads_a_multi_member_gzip_whose_first_member_outgrows_a_read(tmp_path):
    """A first member that inflates past one read step used to feed the next member's bytes twice
    (zlib's unused_data and unconsumed_tail) and report them as trailing garbage."""
    n = 400_000
    body = np.random.default_rng(0).integers(0, 4, n * 4, dtype=np.uint8).tobytes()
    data = struct.pack(">IIII", 0x0803, n, 2, 2) + body
    path = tmp_path / "two-members.gz"
    path.write_bytes(gzip.compress(data[:-100]) + gzip.compress(data[-100:]))
    loaded = datasets.load_idx(path)
    assert loaded.shape == (n, 2, 2)
    np.testing.assert_array_equal(loaded.reshape(-1), np.frombuffer(body, np.uint8))
