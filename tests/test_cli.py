"""The `minigrad` command run as a user runs it: a subprocess, its output, files and exit codes."""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from viz.checkpoint import load_checkpoint, save_checkpoint
from viz.cli import main

REPO = Path(__file__).resolve().parents[1]
TEST_ACCURACY = re.compile(r"^test accuracy: 0\.\d{4}$")
SMALL = ["--limit", "3000", "--hidden", "16", "--plain"]  # 24 batches an epoch: a run takes ~2 s


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(extra)
    return env


def minigrad(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minigrad", *args], check=False, cwd=cwd, env=environment(),
                          capture_output=True, text=True, timeout=timeout)


def weights(path: Path) -> dict[str, np.ndarray]:
    return load_checkpoint(path).weights


def epoch_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if re.match(r"epoch \d+/\d+  loss", line)]


# ----- bad input: exit 2, one sentence, no traceback -----------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["train", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["train", "--hidden", "25,abc"], "'abc' is not one"),
    (["train", "--hidden", "2000000000"], "more than the 50,000,000 a run here holds in memory"),
    (["train", "--hidden", "8000,8000"], "'8000,8000' makes a network of 70,368,010 weights"),
    (["graph", "--hidden", "2000000000"], "--hidden: '2000000000' makes a network of 1,590,000,000,010"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "-3"], "--epochs"),
    (["train", "--batch-size", "many"], "--batch-size"),
    (["train", "--lr", "-1"], "--lr"),
    (["train", "--seed", "-1"], "--seed: expected a whole number from 0 to 2**64 - 1, got -1"),
    (["train", "--seed", str(2**64)], "--seed"),
    (["train", "--resume", "nowhere.npz"], "does not exist"),
    (["train", "--save", "."], "is a folder"),
    (["demo", "cats"], "invalid choice"),
    ([], "choose a command"),
])
def test_bad_arguments_return_2_with_one_line(tmp_path, monkeypatch, capsys, args, says):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "minigrad-runs").exists()


def test_hidden_sizes_up_to_the_memory_bound_are_accepted():
    from viz.cli import MAX_WEIGHTS, parse_hidden

    assert parse_hidden("4096,4096") == (4096, 4096)  # 20 million weights: large, still trained
    widest = (MAX_WEIGHTS - 10) // (785 + 10)  # one hidden layer: 785·h weights in, (h + 1)·10 out
    assert parse_hidden(str(widest)) == (widest,)
    with pytest.raises(argparse.ArgumentTypeError, match="more than the 50,000,000"):
        parse_hidden(str(widest + 1))


def test_manual_seed_takes_negative_seeds_as_pytorch_does():
    import minigrad as mg

    # PyTorch reads a negative seed as its 64-bit two's complement: -1 and 2**64 - 1 are one seed
    mg.manual_seed(-1)
    negative = mg.randn(4).numpy()
    mg.manual_seed(2**64 - 1)
    np.testing.assert_array_equal(negative, mg.randn(4).numpy())
    mg.manual_seed(-2**63)
    mg.manual_seed(1)
    assert not np.array_equal(negative, mg.randn(4).numpy())
    for bad in (2**64, -2**63 - 1):
        with pytest.raises(ValueError, match=r"manual_seed: the seed must be between -2\*\*63 and 2\*\*64 - 1"):
            mg.manual_seed(bad)
    with pytest.raises(TypeError, match="manual_seed: the seed must be an integer, got float 1.5"):
        mg.manual_seed(1.5)


@pytest.mark.parametrize("args, says", [
    (["train", "--hidden", "25,abc"], "'abc' is not one"),
    (["train", "--limit", "60000"], "more than the 55,000 training images"),
    (["graph", "-o", "graph.gif"], "the suffix .gif is not supported"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, args, says):
    result = minigrad(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "minigrad-runs").exists()


def test_graph_refuses_a_bad_suffix_before_loading_any_data(tmp_path, monkeypatch, capsys):
    import viz.cli

    def no_loading(name):
        raise AssertionError("graph loaded the dataset before checking the output suffix")

    monkeypatch.setattr(viz.cli, "load_dataset", no_loading)
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "-o", "graph.pdf"]) == 2
    err = capsys.readouterr().err
    assert "the suffix .pdf is not supported" in err and ".svg" in err
    assert not (tmp_path / "graph.pdf").exists()


@pytest.mark.parametrize("output, says", [
    ("notes.txt/graph.svg", "notes.txt is not a writable folder"),
    ("/dev/null/graph.dot", "/dev/null is not a writable folder"),
    ("pictures.svg", "-o pictures.svg is a folder; give a file path such as pictures.svg/graph.svg"),
])
def test_graph_refuses_an_unwritable_output_before_loading_any_data(tmp_path, monkeypatch, capsys, output, says):
    import viz.cli

    def no_loading(name):
        raise AssertionError("graph loaded the dataset before checking that the output can be written")

    monkeypatch.setattr(viz.cli, "load_dataset", no_loading)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    (tmp_path / "pictures.svg").mkdir()
    assert main(["graph", "-o", output]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minigrad graph: ") and says in err and len(err.strip().splitlines()) == 1


def test_graph_says_which_file_it_could_not_write(tmp_path, monkeypatch, capsys):
    import errno

    import viz

    def full_disk(target, path, **options):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(viz, "render", full_disk)
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "--hidden", "8", "-o", "step.svg"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"minigrad graph: could not write the graph step.svg: {os.strerror(errno.ENOSPC)}"


def test_a_corrupt_checkpoint_is_refused(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 this is not really a zip archive")
    result = minigrad(tmp_path, "train", "--resume", "bad.npz")
    assert result.returncode == 2 and "corrupt" in result.stderr and "Traceback" not in result.stderr


# ----- real runs (small) -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One small 2-epoch run shared by the tests below: (its folder, its result)."""
    folder = tmp_path_factory.mktemp("run")
    return folder, minigrad(folder, "train", *SMALL, "--epochs", "2", "--save", "two.ckpt")


def test_a_short_run_learns_and_ends_with_the_test_accuracy(two_epochs):
    folder, result = two_epochs
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert TEST_ACCURACY.match(lines[-1]), lines[-1]
    assert float(lines[-1].split()[-1]) > 0.6  # 3,000 images, 2 epochs: far above chance (0.1)
    assert "\x1b" not in result.stdout  # plain mode: no escape codes at all
    epochs = epoch_lines(result.stdout)
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    accuracy = [float(re.search(r"val_accuracy (\S+)", line).group(1)) for line in epochs]
    assert accuracy[1] > accuracy[0]
    assert "checkpoint: two.ckpt" in result.stdout and (folder / "two.ckpt").is_file()
    rows = [json.loads(line) for line in (folder / "two.metrics.jsonl").read_text().splitlines()]
    assert [r.get("epoch") for r in rows[:2]] == [1, 2] and rows[-1]["test_accuracy"] > 0.6
    assert load_checkpoint(folder / "two.ckpt").epoch == 2


def test_the_default_checkpoint_goes_under_minigrad_runs(tmp_path):
    result = minigrad(tmp_path, "train", *SMALL, "--epochs", "1")
    assert result.returncode == 0, result.stderr
    saved = list((tmp_path / "minigrad-runs").glob("mnist-*/checkpoint.npz"))
    assert len(saved) == 1 and (saved[0].parent / "metrics.jsonl").is_file()
    assert f"checkpoint: {saved[0].relative_to(tmp_path)}" in result.stdout


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path, monkeypatch, capsys):
    import viz.cli

    monkeypatch.chdir(tmp_path)
    stamp = ["20260101-120000"]
    monkeypatch.setattr(viz.cli.time, "strftime", lambda fmt, *when: stamp[0])
    args = viz.cli.build_parser().parse_args(["train", "--limit", "300", "--hidden", "8", "--epochs", "1"])
    # two terminals: both runs are set up before either has saved anything
    runs = [viz.cli.TrainingRun(args), viz.cli.TrainingRun(args)]
    stamp[0] = "20260101-120001"
    runs.append(viz.cli.TrainingRun(args))
    folders = [run.save_path.parent for run in runs]
    assert [str(f) for f in folders] == ["minigrad-runs/mnist-20260101-120000", "minigrad-runs/mnist-20260101-120000-2",
                                         "minigrad-runs/mnist-20260101-120001"]
    for i, run in enumerate(runs):
        run.history = {"loss": [float(i)]}
        run.save()
    for i, folder in enumerate(folders):  # each run's weights and metrics stayed its own
        assert json.loads((folder / "metrics.jsonl").read_text())["loss"] == i
    assert sorted(Path("minigrad-runs").glob("mnist-*")) == folders  # the README's sorted(...)[-1] is the latest


def test_a_run_that_saved_nothing_leaves_no_empty_run_folder(tmp_path, monkeypatch, capsys):
    import viz.checkpoint

    def full_disk(fd):
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(viz.checkpoint.os, "fsync", full_disk)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "1", "--limit", "300", "--hidden", "8", "--plain"]) == 1
    assert "could not write the checkpoint minigrad-runs/mnist-" in capsys.readouterr().err
    assert not (tmp_path / "minigrad-runs").exists()  # nor the runs folder it made, now empty
    (tmp_path / "minigrad-runs" / "mnist-earlier").mkdir(parents=True)  # a folder of earlier runs stays
    assert main(["train", "--epochs", "1", "--limit", "300", "--hidden", "8", "--plain"]) == 1
    assert [p.name for p in (tmp_path / "minigrad-runs").iterdir()] == ["mnist-earlier"]


def test_resume_counts_epochs_in_total_and_matches_an_uninterrupted_run(two_epochs, tmp_path):
    folder, first = two_epochs
    assert first.returncode == 0, first.stderr
    resumed = minigrad(folder, "train", "--resume", "two.ckpt", "--epochs", "3", "--save", str(tmp_path / "r.ckpt"))
    assert resumed.returncode == 0, resumed.stderr
    assert [line.split()[1] for line in epoch_lines(resumed.stdout)] == ["3/3"]
    straight = minigrad(tmp_path, "train", *SMALL, "--epochs", "3", "--save", "s.ckpt")
    assert straight.returncode == 0, straight.stderr
    a, b = weights(tmp_path / "r.ckpt"), weights(tmp_path / "s.ckpt")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert resumed.stdout.splitlines()[-1] == straight.stdout.splitlines()[-1]
    again = minigrad(folder, "train", "--resume", "two.ckpt", "--epochs", "2")  # already there: evaluate
    assert again.returncode == 0 and epoch_lines(again.stdout) == []
    assert "evaluating only" in again.stdout and TEST_ACCURACY.match(again.stdout.splitlines()[-1])
    lines = again.stdout.splitlines()
    said = [i for i, line in enumerate(lines) if "already trained 2 epochs" in line and "evaluating only" in line]
    assert len(said) == 1 and said[0] < lines.index("confusion matrix (rows: true class, columns: predicted):")


def test_resume_refuses_another_architecture(two_epochs, tmp_path):
    folder, first = two_epochs
    assert first.returncode == 0, first.stderr
    result = minigrad(folder, "train", "--resume", "two.ckpt", "--hidden", "32")
    assert result.returncode == 2 and "--hidden 16, not 32" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # a checkpoint whose settings say one thing and whose weights another: the weights' mismatch is named
    checkpoint = load_checkpoint(folder / "two.ckpt")
    checkpoint.args["hidden"] = [8]
    save_checkpoint(tmp_path / "odd.ckpt", checkpoint)
    result = minigrad(tmp_path, "train", "--resume", "odd.ckpt")
    assert result.returncode == 2 and "layer0.kernel" in result.stderr and "Traceback" not in result.stderr


def train_with_ctrl_c_at_gather(monkeypatch, tmp_path, gather: int) -> int:
    """Train 3 small epochs, Ctrl-C pressed during epoch `gather`'s gather (before its fit); the exit code."""
    import viz.cli

    gathers, take = [], np.take  # viz.cli.np is numpy itself: keep the real take before replacing it

    def take_after_ctrl_c(*args, **kwargs):
        gathers.append(1)
        if len(gathers) == gather:
            os.kill(os.getpid(), signal.SIGINT)
        return take(*args, **kwargs)

    monkeypatch.setattr(viz.cli.np, "take", take_after_ctrl_c)
    monkeypatch.chdir(tmp_path)
    return main(["train", "--epochs", "3", "--limit", "300", "--hidden", "8", "--plain", "--save", "ck.npz"])


def test_ctrl_c_between_epochs_stops_before_the_next_epoch(tmp_path, monkeypatch, capsys):
    # epoch 2's gather: after epoch 1's fit and save, before epoch 2's fit
    assert train_with_ctrl_c_at_gather(monkeypatch, tmp_path, gather=2) == 130
    out = capsys.readouterr().out
    saved = load_checkpoint(tmp_path / "ck.npz")
    assert (saved.epoch, saved.batch) == (1, 0)  # epoch 2 was not trained
    assert [line.split()[1] for line in epoch_lines(out)] == ["1/3"]
    assert "interrupted after epoch 1; checkpoint saved to ck.npz" in out
    assert "resume with: " in out and "train --resume ck.npz" in out


def test_ctrl_c_before_the_first_batch_says_nothing_was_trained(tmp_path, monkeypatch, capsys):
    assert train_with_ctrl_c_at_gather(monkeypatch, tmp_path, gather=1) == 130
    out = capsys.readouterr().out
    assert epoch_lines(out) == []
    assert "interrupted before the first batch, with nothing trained yet; checkpoint saved to ck.npz" in out
    assert "epoch 0" not in out


def test_a_save_that_fails_after_ctrl_c_says_the_run_was_interrupted(tmp_path, monkeypatch, capsys):
    import errno

    import viz.checkpoint

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(viz.checkpoint.os, "fsync", full_disk)
    assert train_with_ctrl_c_at_gather(monkeypatch, tmp_path, gather=1) == 1  # Ctrl-C, then the save fails
    assert capsys.readouterr().err.strip() == (
        "minigrad train: interrupted before the first batch, with nothing trained yet, and it could not write "
        f"the checkpoint ck.npz ({os.strerror(errno.ENOSPC)})")  # nothing trained: no "weights not saved"


def interrupt_once(monkeypatch, epoch: int, batch: int) -> None:
    """Ctrl-C as batch `batch` of epoch `epoch` (both from 1) ends: fit finishes that batch and stops."""
    from viz.trainer import PlainLog

    original, fired = PlainLog.on_train_batch_end, []

    def on_train_batch_end(self, index, logs=None):
        original(self, index, logs)
        if not fired and (self.progress.epoch + 1, self.progress.batches_done) == (epoch, batch):
            fired.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(PlainLog, "on_train_batch_end", on_train_batch_end)


def train_figures(line: str) -> str:
    return re.search(r"loss \S+  accuracy \S+", line).group(0)


def test_a_resumed_epoch_prints_the_whole_epochs_figures_as_recorded(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    common = ["--limit", "1280", "--hidden", "8", "--plain"]  # 10 batches an epoch, a line every 2
    interrupt_once(monkeypatch, epoch=2, batch=5)
    assert main(["train", *common, "--epochs", "2", "--save", "cut.ckpt"]) == 130
    cut = load_checkpoint(tmp_path / "cut.ckpt")
    assert (cut.epoch, cut.batch) == (1, 5)
    capsys.readouterr()
    assert main(["train", "--resume", "cut.ckpt", "--plain"]) == 0
    resumed = capsys.readouterr().out
    assert main(["train", *common, "--epochs", "2", "--save", "whole.ckpt"]) == 0
    whole = capsys.readouterr().out
    (line,) = epoch_lines(resumed)
    recorded = [json.loads(row) for row in (tmp_path / "cut.metrics.jsonl").read_text().splitlines()][1]
    assert train_figures(line) == f"loss {recorded['loss']:.4f}  accuracy {recorded['accuracy']:.4f}"
    assert train_figures(line) == train_figures(epoch_lines(whole)[1])  # as if never interrupted
    for batch in ("batch 6/10", "batch 10/10"):  # the running means within the epoch, too
        ours = next(x for x in resumed.splitlines() if x.startswith(f"epoch 2/2  {batch} "))
        theirs = next(x for x in whole.splitlines() if x.startswith(f"epoch 2/2  {batch} "))
        assert train_figures(ours) == train_figures(theirs)


@pytest.mark.parametrize("epochs, says", [
    ("1", "minigrad train: training finished (1 epoch), but could not write the checkpoint ck.npz"),
    ("3", "minigrad train: stopped after epoch 1 (of 3) because it could not write the checkpoint ck.npz"),
])
def test_a_checkpoint_that_cannot_be_written_is_one_sentence_and_exit_1(tmp_path, monkeypatch, capsys,
                                                                         epochs, says):
    import errno

    import viz.checkpoint

    def full_disk(fd):  # what a full disk does after the checks: the write fails at the last moment
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(viz.checkpoint.os, "fsync", full_disk)
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--epochs", epochs, "--limit", "300", "--hidden", "8", "--plain", "--save", "ck.npz"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip() == (f"{says} ({os.strerror(errno.ENOSPC)}): the weights trained since the last "
                                    "checkpoint are not saved")
    assert [line.split()[1] for line in epoch_lines(captured.out)] == [f"1/{epochs}"]  # no epoch after it
    assert list(tmp_path.iterdir()) == []  # the atomic write left neither a checkpoint nor a temp file


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path):
    # 100 batches an epoch (~0.1 s): 30 epochs leave seconds of training after the signal point, so the
    # signal lands mid-training even on a loaded machine; the checks below then train only to the cut's epoch
    common = ["--limit", "12800", "--hidden", "16", "--plain"]
    stderr_path = tmp_path / "stderr.txt"
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream) -> None:  # a thread, so the test waits on a queue with a deadline, never on readline
        for line in stream:
            lines.put(line)
        lines.put(None)

    output: list[str] = []
    with stderr_path.open("w") as stderr, subprocess.Popen(
            [sys.executable, "-m", "minigrad", "train", *common, "--epochs", "30", "--save", "cut.ckpt"],
            cwd=tmp_path, env=environment(), stdout=subprocess.PIPE, stderr=stderr, text=True) as child:
        reader = threading.Thread(target=read, args=(child.stdout,), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            while not any("batch 25/" in line for line in output):  # training is under way
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    pytest.fail("no 'batch 25/' line within 120 s: " + "".join(output))
                if line is None:
                    pytest.fail("the run ended before batch 25: " + "".join(output) + stderr_path.read_text())
                output.append(line)
            child.send_signal(signal.SIGINT)
            child.wait(timeout=60)
            reader.join(timeout=10)
        finally:
            child.kill()  # a no-op when it has exited
    while not lines.empty():
        line = lines.get()
        if line is not None:
            output.append(line)
    err = stderr_path.read_text()
    assert child.returncode == 130, err
    assert "Traceback" not in err
    out = "".join(output)
    assert "checkpoint saved to cut.ckpt" in out
    assert "resume with: python -m minigrad train --resume cut.ckpt" in out
    cut = load_checkpoint(tmp_path / "cut.ckpt")
    assert (cut.epoch, cut.batch) > (0, 0) and cut.epoch < 30

    epochs = str(cut.epoch + 1)  # finish the interrupted epoch, and compare with a run of as many epochs
    resumed = minigrad(tmp_path, "train", "--resume", "cut.ckpt", "--epochs", epochs)
    assert resumed.returncode == 0, resumed.stderr
    straight = minigrad(tmp_path, "train", *common, "--epochs", epochs, "--save", "whole.ckpt")
    assert straight.returncode == 0, straight.stderr
    a, b = weights(tmp_path / "cut.ckpt"), weights(tmp_path / "whole.ckpt")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert resumed.stdout.splitlines()[-1] == straight.stdout.splitlines()[-1]


def test_graph_renders_one_training_step(tmp_path):
    result = minigrad(tmp_path, "graph", "--hidden", "8", "-o", "step.dot")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "step.dot"
    dot = (tmp_path / "step.dot").read_text()
    assert "digraph" in dot and "softmax_cross_entropy" in dot


def test_demo_softmax_prints_the_table(tmp_path):
    result = minigrad(tmp_path, "demo", "softmax")
    assert result.returncode == 0, result.stderr
    assert "fused" in result.stdout and "naive" in result.stdout


# ----- the live dashboard, in a pseudo-terminal -----------------------------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_live_dashboard_draws_in_a_terminal(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = environment(COLUMNS="100", LINES="40", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    child = subprocess.Popen([sys.executable, "-m", "minigrad", "train", "--limit", "3000", "--hidden", "16",
                              "--epochs", "2"], cwd=tmp_path, env=env, stdin=slave, stdout=slave, stderr=slave,
                             close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif child.poll() is not None:
                break
        child.wait(timeout=30)
    finally:
        child.kill()
        os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert child.returncode == 0, screen[-2000:]
    assert "\x1b[" in screen  # colours and cursor movement: it is the live display
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen).replace("\r", "")
    for piece in ("▀" * 28, "softmax output", "loss", "accuracy", "gradient norms", "samples/s", "confusion matrix"):
        assert piece in text, piece
    last = [line for line in text.splitlines() if line.strip()][-1]
    assert TEST_ACCURACY.match(last.strip()), repr(last)


def test_use_one_blas_thread_limits_numpys_blas(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    from viz.cli import use_one_blas_thread

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    if not any(pool["user_api"] == "blas" for pool in threadpool_info()):
        pytest.skip("threadpoolctl sees no BLAS thread pool in this numpy")
    with threadpool_limits(limits=None):  # restores the original thread counts afterwards
        threadpool_limits(limits=2, user_api="blas")  # so that one thread afterwards is the function's doing
        assert use_one_blas_thread() is True
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
        assert use_one_blas_thread() is False  # the user's setting wins
