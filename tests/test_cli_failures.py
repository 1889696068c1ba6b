"""Failures of the femvalley command: one clear line, the right exit status, no traceback.

Each case runs ``femvalley.cli.main`` as the console script does and checks the exit status
(2: bad input, files, system; 1: a failed computation; 130: interrupt), that the message
names the file or field, that no traceback is printed, and that nothing already stored is
damaged. Nothing here computes a study: every failure is caught before the first solve.
"""

from __future__ import annotations

import errno
import os
import socket

import h5py
import numpy as np
import pytest

import femvalley.cli as cli
from femvalley.cli import main
from femvalley.config import StudyConfig
from femvalley.io import CorruptStoreError, DirectoryLock, OutputBusyError
from femvalley.io.atomic import LOCK_NAME
from femvalley.sweep import run_sweep


def _fails(capsys, argv, code=2):
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, captured.err
    return captured.err


def _study(tmp_path, name="s.toml"):
    path = tmp_path / name
    path.write_text("[detuning]\npoints = 3\n")
    return path


# -- files and directories given on the command line ------------------------------------------
def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("a user's file")
    err = _fails(capsys, ["demo", "--out", str(target)])
    assert f"--out {target} is a file" in err
    assert target.read_text() == "a user's file"


def test_a_directory_given_as_the_study_file_is_refused(tmp_path, capsys):
    err = _fails(capsys, ["run", str(tmp_path)])
    assert f"{tmp_path} is a directory" in err and "TOML" in err


def test_a_missing_study_file_is_named(tmp_path, capsys):
    err = _fails(capsys, ["converge", str(tmp_path / "nope.toml")])
    assert "nope.toml does not exist" in err


def test_resume_into_a_missing_directory_is_refused(tmp_path, capsys):
    study = _study(tmp_path)
    err = _fails(capsys, ["run", str(study), "--out", str(tmp_path / "typo"), "--resume"])
    assert "--resume" in err and "typo does not exist" in err
    assert not (tmp_path / "typo").exists()


def test_resume_into_an_empty_directory_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    err = _fails(capsys, ["demo", "--out", str(tmp_path / "empty"), "--resume"])
    assert "holds no femvalley run to resume" in err
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_study_file_without_toml_suffix_does_not_become_its_own_output(tmp_path, capsys):
    study = tmp_path / "mystudy"  # no .toml: the default output is mystudy-results
    study.write_text("[detuning]\npoints = 3\n")
    err = _fails(capsys, ["run", str(study), "--resume"])
    assert "mystudy-results does not exist" in err
    assert study.read_text() == "[detuning]\npoints = 3\n"


@pytest.mark.parametrize(
    "content",
    [b"", b"not an HDF5 file at all" * 10, b"\x89HDF\r\n\x1a\n" + b"\x00" * 40],
    ids=["zero-bytes", "garbage", "truncated"],
)
@pytest.mark.parametrize("store", ["results.h5", "ensemble.h5"])
def test_a_damaged_store_is_named_on_resume(tmp_path, capsys, content, store):
    out = tmp_path / "out"
    out.mkdir()
    (out / store).write_bytes(content)
    if store == "ensemble.h5":
        study = tmp_path / "e.toml"
        study.write_text("[detuning]\npoints = 3\n[ensemble]\nseeds = 2\n")
        argv = ["run", str(study), "--out", str(out), "--resume"]
    else:
        argv = ["demo", "--out", str(out), "--resume"]
    err = _fails(capsys, argv)
    assert str(out / store) in err and "move it away or start a new --out" in err
    assert (out / store).read_bytes() == content  # left as it was


def test_a_damaged_snapshot_checkpoint_is_named(tmp_path):
    cfg = StudyConfig.from_dict({"detuning": {"points": 3}})
    out = tmp_path / "o"
    out.mkdir()
    (out / "snapshots.h5").write_bytes(b"\x00" * 100)
    from femvalley.io.snapshots import read_snapshots
    from femvalley.io.toml import text_digest

    with pytest.raises(CorruptStoreError, match="snapshots.h5 is not a readable snapshot"):
        read_snapshots(out / "snapshots.h5", text_digest(cfg.to_toml()))


def test_run_sweep_refuses_a_damaged_results_store_before_any_computation(tmp_path):
    cfg = StudyConfig.from_dict({"detuning": {"points": 3}})
    (tmp_path / "results.h5").write_bytes(b"")
    with pytest.raises(CorruptStoreError, match="results.h5 is not a readable results store"):
        run_sweep(cfg, out_dir=tmp_path, resume=True, progress=False)


def test_a_store_with_missing_data_is_named(tmp_path):
    path = tmp_path / "results.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("done", data=np.zeros(3))
    from femvalley.io import read_store

    with pytest.raises(CorruptStoreError, match=r"missing .*detuning_mV"):
        with read_store(path, "results store") as f:
            f["detuning_mV"][()]


# -- locks ---------------------------------------------------------------------------------------
def test_a_second_run_into_a_locked_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "busy"
    with DirectoryLock(out):
        err = _fails(capsys, ["demo", "--out", str(out)])
        assert f"{out} is being written by another femvalley run" in err
        assert f"pid {os.getpid()}" in err and "choose another --out" in err
        with pytest.raises(OutputBusyError):
            with DirectoryLock(out):
                pass
    assert (out / LOCK_NAME).read_text() == ""  # released: empty
    with DirectoryLock(out) as again:  # and free again
        assert again.note is None


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path, capsys):
    out = tmp_path / "stale"
    out.mkdir()
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (out / LOCK_NAME).write_text(f"pid={dead} host={socket.gethostname()} started=yesterday\n")
    with DirectoryLock(out) as lock:
        assert f"pid {dead}" in lock.note and "no longer running" in lock.note
        assert f"pid={os.getpid()}" in (out / LOCK_NAME).read_text()
    assert "took over the lock" in capsys.readouterr().err


# -- system failures and interrupts -------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "o/results.h5.tmp"), "no space left"),
        (PermissionError(errno.EACCES, "Permission denied", "o/results.h5"), "permission denied"),
        (OSError(errno.EROFS, "Read-only file system", "o/study.toml"), "permission denied"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "o/spectrum.csv"), "is a directory"),
        (MemoryError(), "out of memory"),
    ],
    ids=["disk-full", "permission", "read-only", "is-a-directory", "memory"],
)
def test_system_failures_are_one_line_with_what_to_do(tmp_path, capsys, monkeypatch, exc, words):
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(cli, "_run", fail)
    err = _fails(capsys, ["demo", "--out", str(tmp_path / "o")])
    assert words in err
    if getattr(exc, "filename", None):
        assert exc.filename in err


def test_a_failed_computation_says_how_to_see_the_traceback(tmp_path, capsys, monkeypatch):
    from femvalley.eigen import EigenSolverError

    def fail(*args, **kwargs):
        raise EigenSolverError("ARPACK did not converge")

    monkeypatch.setattr(cli, "_run", fail)
    err = _fails(capsys, ["demo", "--out", str(tmp_path / "o")], code=1)
    assert "EigenSolverError: ARPACK did not converge" in err and "--debug" in err
    with pytest.raises(EigenSolverError):  # --debug: the traceback
        main(["--debug", "demo", "--out", str(tmp_path / "o")])


def test_ctrl_c_prints_the_command_that_resumes(tmp_path, capsys, monkeypatch):
    stored = {"yes": True}

    def interrupted(config, args, out):
        out.mkdir(parents=True, exist_ok=True)
        if stored["yes"]:
            (out / "results.h5").write_bytes(b"")  # something to resume
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run", interrupted)
    study = _study(tmp_path)
    out = tmp_path / "o"
    err = _fails(capsys, ["run", str(study), "--out", str(out), "--workers", "2"], code=130)
    assert "interrupted" in err
    assert f"femvalley run {study} --out {out} --resume --workers 2" in err
    # interrupted before anything was stored: start again, not --resume (which would refuse)
    stored["yes"] = False
    fresh = tmp_path / "fresh"
    err = _fails(capsys, ["run", str(study), "--out", str(fresh), "--workers", "2"], code=130)
    assert f"nothing was stored yet; start again with: femvalley run {study} --out {fresh} " in err
    assert "--resume" not in err


# -- ranges checked before anything is computed ----------------------------------------------
@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("", "is empty"),
        ("[valley_map]\nseed = 18446744073709551616\n", "valley_map.seed = 18446744073709551616"),
        ("[valley_map]\nseed = -1\n", "valley_map.seed = -1 must be >= 0"),
        ("[detuning]\nstart_mV = -1e308\n", "detuning.start_mV = -1e+308 is beyond"),
        ("[detuning]\npoints = 1000000000\n", "detuning.points = 1000000000 must be <= 100000"),
        ("[solver]\nn_states = 10000000000\n", "solver.n_states = 10000000000 must be <= 256"),
        ("[detuning]\npoints = '" + "x" * 200_000 + "'\n", "detuning.points = 'xxxx"),
        (
            "[ensemble]\nseeds = 4\nseed_start = 9223372036854775806\n",
            "beyond the largest seed 9223372036854775807",
        ),
    ],
    ids=[
        "empty",
        "seed-2**64",
        "seed-negative",
        "detuning-1e308",
        "points-1e9",
        "states-1e10",
        "200kB-value",
        "seed_start-2**63",
    ],
)
def test_out_of_range_fields_are_refused_before_anything_runs(tmp_path, capsys, toml, words):
    study = tmp_path / "s.toml"
    study.write_text(toml)
    err = _fails(capsys, ["run", str(study), "--out", str(tmp_path / "o")])
    assert words in err
    assert len(err) < 400  # a huge value is not echoed whole
    assert not (tmp_path / "o").exists()


def test_more_workers_than_cores_are_capped_with_a_note(tmp_path, capsys, monkeypatch):
    seen = {}

    def record(config, args, out):
        seen["workers"] = args.workers
        return 0

    monkeypatch.setattr(cli, "_run", record)
    assert main(["demo", "--out", str(tmp_path / "o"), "--workers", "1000000"]) == 0
    assert seen["workers"] == (os.cpu_count() or 1)
    assert "capped at the" in capsys.readouterr().err
    _fails(capsys, ["demo", "--out", str(tmp_path / "o"), "--workers", "0"])
