"""Real interrupts of real processes: Ctrl-C and kill -9, then ``--resume``, bit for bit.

A study run as a separate ``femvalley`` process gets SIGINT once its reduced basis has
checkpointed a first snapshot: it must stop with exit status 130, one or two lines naming the
``--resume`` command and no traceback; that command must then finish the study with exactly
the numbers of an uninterrupted run. A study killed with SIGKILL in its point loop leaves a
readable results store (written in place) and resumes to the same numbers. An ensemble on two
Dask worker processes has its parent killed with SIGKILL after its first stored task (no chance
to clean up: its lock and temporary files stay behind); ``--resume`` with one worker must take
the lock over and end with exactly the numbers of an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from femvalley.config import StudyConfig
from femvalley.ensemble import EnsembleConfig, read_ensemble
from femvalley.io.results import read_results

from .conftest import COARSE_STUDY_PARAMS

STUDY = {
    "device": {"params": COARSE_STUDY_PARAMS},
    "detuning": {"points": 9},
    "solver": {"n_states": 4},
    "output": {"figures": False, "vtu_states": 0},
}


def _femvalley(*args: str) -> list[str]:
    return [sys.executable, "-m", "femvalley", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return env


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _femvalley(*args), env=_env(), capture_output=True, text=True, timeout=timeout
    )


def _default_sigint() -> None:
    """In the child: SIGINT neither ignored nor blocked, whatever the test process inherited
    (a child inherits both, and Python installs its KeyboardInterrupt handler only for a
    signal that is not ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _wait_for(predicate, proc, timeout: float = 300.0) -> None:
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (status {proc.returncode}) before it could be interrupted")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail("the run did not reach the point of interruption in time")
        time.sleep(0.05)


def test_ctrl_c_then_resume_ends_bit_identical(tmp_path):
    study = tmp_path / "s.toml"
    # 1001 points: after the first snapshot, the second one, the greedy check of the basis over
    # every point and the point loop take seconds on this mesh (with 9 points about 0.3 s,
    # too short a window to be sure the signal arrives before the study ends)
    study.write_text(StudyConfig.from_dict({**STUDY, "detuning": {"points": 1001}}).to_toml())
    ref = _run("run", str(study), "--out", str(tmp_path / "ref"), "--quiet")
    assert ref.returncode == 0, ref.stderr

    out = tmp_path / "cut"
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            _femvalley("run", str(study), "--out", str(out)),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
            preexec_fn=_default_sigint,
        )
        # interrupted once the reduced basis has checkpointed its first snapshot: the run
        # has stored something, and the rest of the basis takes a second or more
        _wait_for(lambda: (out / "snapshots.h5").exists(), proc)
        proc.send_signal(signal.SIGINT)
        status = proc.wait(timeout=120)
    assert status == 130, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text
    resume = [line for line in text.splitlines() if "--resume" in line]
    assert resume and f"--out {out}" in resume[-1]
    # the command the message gives, as the user would paste it
    cmd = resume[-1][resume[-1].index("femvalley run") :].split()
    again = _run(*cmd[1:])
    assert again.returncode == 0, again.stderr
    a, b = read_results(out / "results.h5"), read_results(tmp_path / "ref" / "results.h5")
    for name in ("energies_meV", "error_bound_meV", "dot_weight", "valley_parity"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert np.all(a["done"] == 1)


def test_kill_9_in_the_point_loop_leaves_a_readable_store_and_resume_ends_bit_identical(tmp_path):
    """The results store is written in place, point by point: a SIGKILL between (or during)
    point writes must leave a readable store whose done points are complete."""
    import h5py

    points = 600  # about 2 ms each on this mesh: a second of loop in which to be killed
    cfg = {**STUDY, "detuning": {"points": points}}
    study = tmp_path / "s.toml"
    study.write_text(StudyConfig.from_dict(cfg).to_toml())
    ref = _run("run", str(study), "--out", str(tmp_path / "ref"), "--quiet")
    assert ref.returncode == 0, ref.stderr

    out = tmp_path / "cut"
    proc = subprocess.Popen(
        _femvalley("run", str(study), "--out", str(out), "--quiet"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def some_done() -> bool:
        try:  # the writer holds the file open: read its flags without HDF5's file lock
            with h5py.File(out / "results.h5", "r", locking=False) as f:
                return int(f["done"][()].sum()) >= 20
        except (OSError, KeyError):
            return False

    _wait_for(some_done, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    stored = read_results(out / "results.h5")  # readable after the kill
    done = stored["done"].astype(bool)
    assert 20 <= done.sum() < points, done.sum()
    ref_store = read_results(tmp_path / "ref" / "results.h5")
    np.testing.assert_array_equal(stored["energies_meV"][done], ref_store["energies_meV"][done])

    again = _run("run", str(study), "--out", str(out), "--resume", "--quiet")
    assert again.returncode == 0, again.stderr
    a = read_results(out / "results.h5")
    assert np.all(a["done"] == 1)
    for name in (
        "energies_meV",
        "error_bound_meV",
        "dot_weight",
        "valley_parity",
        "valley_coupling_meV",
        "x_mean_nm",
        "detuning_slope_meV_per_mV",
    ):
        np.testing.assert_array_equal(a[name], ref_store[name], err_msg=name)
    for end in ("first", "last"):
        np.testing.assert_array_equal(a["states"][end], ref_store["states"][end], err_msg=end)


def test_kill_9_of_an_ensemble_parent_then_resume_on_one_worker_ends_bit_identical(tmp_path):
    pytest.importorskip("distributed")
    ens = tmp_path / "e.toml"
    ens.write_text(
        EnsembleConfig.from_dict(
            {**STUDY, "ensemble": {"seeds": 6, "seed_start": 2, "chunk_realisations": 1}}
        ).to_toml()
    )
    ref = _run("run", str(ens), "--out", str(tmp_path / "ref"), "--quiet")
    assert ref.returncode == 0, ref.stderr

    out = tmp_path / "cut"
    proc = subprocess.Popen(
        _femvalley("run", str(ens), "--out", str(out), "--quiet", "--workers", "2"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its Dask processes in one group, cleaned up below
    )

    def one_done() -> bool:
        try:
            return int(read_ensemble(out / "ensemble.h5")["done"].sum()) >= 1
        except (OSError, ValueError, KeyError):
            return False

    try:
        _wait_for(one_done, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the orphaned scheduler and workers
        except ProcessLookupError:
            pass
    stored = read_ensemble(out / "ensemble.h5")
    assert 1 <= stored["done"].sum() < 6  # killed mid-way, the store intact and readable

    again = _run("run", str(ens), "--out", str(out), "--resume", "--quiet", "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert "took over the lock" in again.stderr and "Traceback" not in again.stderr
    a, b = read_ensemble(out / "ensemble.h5"), read_ensemble(tmp_path / "ref" / "ensemble.h5")
    assert np.all(a["done"] == 1)
    for name in (
        "energies_meV",
        "error_bound_meV",
        "dot_weight",
        "valley_splitting_L_ueV",
        "valley_splitting_R_ueV",
        "tunnel_coupling_ueV",
        "tunnel_coupling_bound_ueV",
    ):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_full_disk_is_one_clear_line_and_leaves_no_temporary_file(tmp_path, capsys):
    """A study writing into a 512 kB tmpfs: exit 2, 'no space left', nothing half-written."""
    from femvalley.cli import main
    from femvalley.io.hdf5 import read_store

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        study = tmp_path / "s.toml"
        study.write_text(StudyConfig.from_dict(STUDY).to_toml())
        status = main(["run", str(study), "--out", str(disk / "out"), "--quiet"])
        err = capsys.readouterr().err
        assert status == 2, err
        assert "no space left on the device; free some space, then --resume" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) <= 2
        files = [p for p in (disk / "out").rglob("*") if p.is_file()]
        assert not [p for p in files if ".tmp" in p.name], files  # no half-written file left
        for p in files:
            if p.suffix == ".h5":  # what was stored before the disk filled is intact
                with read_store(p, "store"):
                    pass
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_only_temporary_files_are_removed_after_a_failed_run(tmp_path):
    from femvalley.io import DirectoryLock
    from femvalley.io.atomic import remove_temporaries

    keep = ["results.h5", "study.toml", "states/point_00001.npy", "paraview/sweep.xdmf"]
    temporary = [
        "results.h5.tmp",
        "paraview/state0_first.vtu.tmp.vtu",
        "states/.point_00002.tmp.npy",
        ".tmp-mesh.msh",
        "paraview/.sweep.h5.123.tmp",
    ]
    for name in keep + temporary:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert sorted(
        p.relative_to(tmp_path).as_posix() for p in remove_temporaries(tmp_path)
    ) == sorted(temporary)
    # a run that fails inside the lock leaves none behind; one that succeeds is not touched
    (tmp_path / "results.h5.tmp").write_text("x")
    with DirectoryLock(tmp_path):
        pass
    assert (tmp_path / "results.h5.tmp").exists()
    with pytest.raises(OSError), DirectoryLock(tmp_path):
        raise OSError(28, "No space left on device")
    assert not (tmp_path / "results.h5.tmp").exists()
    assert all((tmp_path / name).exists() for name in keep)
