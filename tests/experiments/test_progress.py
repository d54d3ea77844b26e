"""Sweep progress: a bar on a terminal, one line per finished run with counts and an ETA
elsewhere (nohup, CI, a batch scheduler), from `run`, `tune` and `demo`."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from uncertainty_lr import cli
from uncertainty_lr.experiments import executors
from uncertainty_lr.experiments.config import RunConfig
from uncertainty_lr.experiments.grid import expand_grid
from uncertainty_lr.experiments.progress import SweepProgress, duration

LINE = re.compile(
    r"^runs (\d+)/(\d+)( \(\d+ already done\))?: \S+ \S+ seed \d+: (done|diverged|failed); "
)


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_line_per_finished_run_with_counts_and_eta():
    stream, clock = io.StringIO(), Clock()
    shown = SweepProgress(4, stream=stream, clock=clock)
    clock.now += 30
    shown.run_finished("digits_mlp", "cosine", 0, "done")
    clock.now += 50
    shown.run_finished("digits_mlp", "uncertainty", 0, "diverged")
    clock.now += 10
    shown.run_finished("digits_mlp", "cosine", 1, "failed")
    clock.now += 10
    shown.run_finished("digits_mlp", "uncertainty", 1, "done")
    shown.close()
    assert stream.getvalue().splitlines() == [
        "runs 1/4: digits_mlp cosine seed 0: done; 30 s so far, about 1 min 30 s left",
        "runs 2/4: digits_mlp uncertainty seed 0: diverged; 1 min 20 s so far, about 1 min 20 s left",
        "runs 3/4: digits_mlp cosine seed 1: failed; 1 min 30 s so far, about 30 s left",
        "runs 4/4: digits_mlp uncertainty seed 1: done; 1 min 40 s in all",
    ]


def test_runs_already_done_count_but_take_no_time_in_the_eta():
    stream, clock = io.StringIO(), Clock()
    shown = SweepProgress(10, 6, stream=stream, clock=clock)
    clock.now += 20
    shown.run_finished("mnist_cnn", "constant", 3, "done")
    assert stream.getvalue() == (
        "runs 7/10 (6 already done): mnist_cnn constant seed 3: done; 20 s so far, "
        "about 1 min 00 s left\n"
    )


def test_a_terminal_gets_the_bar_and_no_lines():
    stream = Terminal()
    shown = SweepProgress(2, stream=stream)
    shown.run_finished("digits_mlp", "cosine", 0, "done")
    shown.close()
    text = stream.getvalue()
    assert "runs: " in text and "1/2" in text and "2 s so far" not in text
    assert not any(LINE.match(line) for line in text.splitlines())


def test_disabled_shows_nothing():
    stream = io.StringIO()
    shown = SweepProgress(2, stream=stream, enabled=False)
    shown.run_finished("digits_mlp", "cosine", 0, "done")
    shown.close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0 s"), (59.4, "59 s"), (60, "1 min 00 s"), (3599, "59 min 59 s"), (7380, "2 h 03 min")],
)
def test_duration(seconds, text):
    assert duration(seconds) == text


def progress_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("runs ")]


def test_run_prints_a_line_per_run_when_stderr_is_not_a_terminal(tmp_path, capsys):
    args = ["run", "--problem", "digits_mlp", "--schedule", "constant", "cosine", "--epochs", "1",
            "--train-size", "300", "--out", str(tmp_path), "--no-report"]  # fmt: skip
    assert cli.main(args) == 0
    lines = progress_lines(capsys.readouterr().err)
    assert [LINE.match(line).group(1, 2) for line in lines] == [("1", "2"), ("2", "2")]
    assert "about" in lines[0] and lines[1].endswith("in all")
    assert cli.main([*args, "--schedule", "constant", "cosine", "step"]) == 0  # a rerun: 2 done
    (line,) = progress_lines(capsys.readouterr().err)
    assert line.startswith("runs 3/3 (2 already done): digits_mlp step seed 0: done; ")
    assert cli.main([*args, "--quiet"]) == 0
    assert progress_lines(capsys.readouterr().err) == []


def test_tune_prints_a_line_per_run(tmp_path, capsys):
    args = ["tune", "--problem", "digits_mlp", "--schedule", "constant", "--lrs", "1e-3",
            "--epochs", "1", "--train-size", "300", "--out", str(tmp_path), "--no-report"]  # fmt: skip
    assert cli.main(args) == 0
    lines = progress_lines(capsys.readouterr().err)
    assert [line.split(":")[1] for line in lines] == [
        " digits_mlp constant seed 100",
        " digits_mlp constant seed 101",
    ]


def test_demo_prints_a_line_per_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "DEMO_SCHEDULES", ("constant",))  # the real demo: 30 runs
    assert cli.main(["demo", "--out", str(tmp_path / "demo"), "--no-report"]) == 0
    lines = progress_lines(capsys.readouterr().err)
    assert [LINE.match(line).group(1, 2) for line in lines] == [("1", "3"), ("2", "3"), ("3", "3")]
    assert Path(tmp_path / "demo" / "results.sqlite").exists()


def test_parallel_sweeps_print_a_line_per_run(tmp_path, monkeypatch, capsys):
    configs = expand_grid(["digits_mlp"], ["constant", "cosine"], [0], RunConfig(epochs=1))

    def fake_workers(pending, out, workers, threads, finished, data, pool):
        for cfg in pending:  # what the pool reports as each run ends, here all as failed
            finished(cfg, None, "worker died")

    monkeypatch.setattr(executors, "run_local", fake_workers)
    executors.run_parallel(configs, tmp_path, executors.Execution(workers=2), progress=True)
    lines = progress_lines(capsys.readouterr().err)
    assert lines[0].startswith("runs 1/2: digits_mlp constant seed 0: failed; ")
    assert lines[1].startswith("runs 2/2: digits_mlp cosine seed 0: failed; ")
