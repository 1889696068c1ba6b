"""A catalogue of bad inputs (issue 17): every one is reported cleanly, before any computation.

Each command-line case runs ``femvalley.cli.main`` as the console script does and checks the
exit status (2: bad input or files; 1: a failed computation), that stderr names the field or
the file, that no traceback is printed, that the message is at most three lines, and that
nothing already stored is changed (bytes and modification time). Each Python API case checks
the exception and that its message names the field or the file.

It complements tests/test_cli_failures.py, tests/test_cli.py, tests/test_config.py and
tests/test_ensemble.py and repeats none of their cases. Nothing here computes: a guard replaces
the device setup (``build_system``) and the heterostructure report, so a bad input that got
past validation fails its test at once (``ComputationStarted``) instead of starting a run.

The 52 defects this catalogue found when it was written are fixed and their cases pass. A
newly found defect gets a case marked with :func:`bug` (``xfail(strict=True)``) until it is
fixed; then the mark goes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from femvalley.cli import main
from femvalley.config import StudyConfig
from femvalley.ensemble import EnsembleConfig, read_ensemble
from femvalley.heterostructure.config import HeterostructureConfig
from femvalley.io import CorruptStoreError
from femvalley.io.atomic import LOCK_NAME
from femvalley.io.hdf5 import write_csr
from femvalley.io.results import read_results
from femvalley.states import FORMAT, StudyStates
from femvalley.valley_map import (
    ValleyMapSpec,
    read_valley_grid_arrays,
    sample_grid,
    uniform_valley_map,
)

#: most lines of stderr a failure may print (the message, a hint, an estimate)
MAX_LINES = 3
#: a message echoing a huge value must stay below this many characters
MAX_MESSAGE = 1000
#: the huge value of the "200 kB" cases
HUGE = "x" * 200_000


class ComputationStarted(BaseException):
    """A bad input got past validation: the device setup (a computation) was about to start.

    A ``BaseException``, so that ``femvalley.cli.main`` does not turn it into a message.
    """


def bug(reason: str, *raises: type[BaseException]) -> pytest.MarkDecorator:
    """Mark a case that shows a defect of femvalley (it must pass once that is fixed).

    The case may fail only as the defect makes it fail: a failed check (``AssertionError``,
    ``pytest.fail``: no exception raised), a computation started, or the exceptions
    ``raises`` that escape femvalley; anything else (a broken test) is still an error.
    """
    return pytest.mark.xfail(
        strict=True,
        reason=f"BUG: {reason}",
        raises=(AssertionError, pytest.fail.Exception, ComputationStarted, *raises),
    )


@pytest.fixture(autouse=True)
def no_computation(monkeypatch):
    """Replace every entry into a computation by :class:`ComputationStarted`."""
    import femvalley.ensemble
    import femvalley.heterostructure.report
    import femvalley.sweep
    import femvalley.system

    def refuse(*args, **kwargs):
        raise ComputationStarted("the device setup started: the input was not refused")

    monkeypatch.setattr(femvalley.sweep, "build_system", refuse)
    monkeypatch.setattr(femvalley.system, "build_system", refuse)
    monkeypatch.setattr(femvalley.ensemble, "build_system", refuse)
    monkeypatch.setattr(femvalley.heterostructure.report, "valley_splitting_report", refuse)


# -- helpers -------------------------------------------------------------------------------------
def _fails(capsys, argv, *, code=2, words=(), max_len=None):
    """Run the command; check the status, the words, no traceback, at most MAX_LINES lines."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    err = captured.err
    assert status == code, f"exit status {status}, stderr: {err[:500]}"
    assert "Traceback" not in captured.out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= MAX_LINES, err[:2000]
    for w in words:
        assert w in err, f"{w!r} not in stderr: {err[:500]}"
    if max_len is not None:
        assert len(err) < max_len, f"a message of {len(err)} characters: {err[:300]}..."
    return err


def _files(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file under a directory (the lock file aside)."""
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


def _params(cases: list) -> list:
    """``(id, *values)`` tuples as ``pytest.param(*values, id=id)``; params kept as they are."""
    return [c if hasattr(c, "marks") else pytest.param(*c[1:], id=c[0]) for c in cases]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _results_store(path: Path, *, mesh: bool = True, n_states: int = 2) -> Path:
    """A small results store as ``export_study`` reads it (3 points, all done)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("detuning_mV", data=np.array([-1.0, 0.0, 1.0]))
        f.create_dataset("done", data=np.ones(3, dtype=np.uint8))
        f.create_dataset("energies_meV", data=np.zeros((3, n_states)))
        f.create_dataset("error_bound_meV", data=np.zeros(3))
        f.attrs["vtu_states"] = 1
        if mesh:
            g = f.create_group("mesh")
            g.create_dataset("points_nm", data=np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
            g.create_dataset("cells", data=np.array([[0], [1], [2]]))
            g.create_dataset("band_edge_meV", data=np.zeros(3))
            g.create_dataset("detuning_meV_per_mV", data=np.zeros(3))
            g.create_dataset("delta_meV", data=np.zeros(3, dtype=complex))
    return path


def _basis_file(path: Path, *, drop: str | None = None) -> Path:
    """A small, valid basis.h5 (3 DOFs, 2 orbitals); ``drop`` removes one dataset or attribute."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["n_states"] = 2
        f.attrs["element"] = "P1"
        f.create_dataset("orbitals", data=np.eye(3)[:, :2])
        f.create_dataset("interior_dofs", data=np.arange(3))
        f.create_dataset("dof_points_nm", data=np.zeros((2, 3)))
        write_csr(f, "mass", sp.eye(3))
        r = f.create_group("reduced")
        for name in ("h_meV", "detuning_meV_per_mV", "dot_L", "dot_R", "x", "y", "x2", "y2"):
            r.create_dataset(name, data=np.eye(2))
        r.create_dataset("coupling_meV", data=np.eye(2, dtype=complex))
        r.create_dataset("valley_phase", data=np.eye(2, dtype=complex))
        if drop is not None and drop in f.attrs:
            del f.attrs[drop]
        elif drop is not None:
            del f[drop]
    return path


def _truncated_hdf5(path: Path) -> bytes:
    """The first half of a real HDF5 file (a copy cut short)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("detuning_mV", data=np.arange(1000.0))
        f.create_dataset("done", data=np.ones(1000, dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path.read_bytes()


DAMAGED = {
    "zero-bytes": b"",
    "garbage": b"this is not an HDF5 file\n" * 8,
    "hdf5-signature-only": b"\x89HDF\r\n\x1a\n" + b"\x00" * 40,
}


# == study files on the command line: refused at validation, nothing created ===================
STUDY_CASES = [
    # TOML syntax and encoding
    ("duplicate-key", "[detuning]\npoints = 3\npoints = 4\n", ["s.toml", "not valid TOML"]),
    ("unterminated-string", '[device]\nname = "tunnel_falls\n', ["s.toml", "not valid TOML"]),
    ("utf8-bom", "\ufeff[detuning]\npoints = 3\n", ["s.toml", "not valid TOML"]),
    ("nul-byte", "[detuning]\npoints = 3\x00\n", ["s.toml", "not valid TOML"]),
    # wrong types
    ("string-for-int", '[detuning]\npoints = "3"\n', ["detuning.points = '3' must be an integer"]),
    ("list-for-int", "[solver]\nn_states = [8]\n", ["solver.n_states = [8] must be an integer"]),
    ("bool-for-int", "[valley_map]\nseed = true\n", ["valley_map.seed = True must be an integer"]),
    ("float-for-int", "[detuning]\npoints = 3.0\n", ["detuning.points = 3.0 must be an integer"]),
    ("date-for-int", "[detuning]\npoints = 1979-05-27\n", ["detuning.points", "integer"]),
    ("inf-for-int", "[detuning]\npoints = inf\n", ["detuning.points = inf must be an integer"]),
    ("table-for-number", "[detuning.start_mV]\nvalue = 1.0\n", ["detuning.start_mV", "number"]),
    ("string-for-table", 'detuning = "fast"\n', ["[detuning] must be a table"]),
    ("array-of-tables", "[[solver]]\nn_states = 4\n", ["[solver] must be a table"]),
    ("list-for-model", 'model = ["3d"]\n', ["model = ['3d'] must be one of"]),
    ("int-for-device-name", "[device]\nname = 3\n", ["device.name = 3 is not known"]),
    ("list-for-backend", '[solver]\nbackend = ["auto"]\n', ["solver.backend = ['auto']"]),
    ("int-for-figures", "[output]\nfigures = 1\n", ["output.figures = 1 must be true or false"]),
    ("bool-for-order", "[device]\nelectrostatics_order = true\n", ["device.electrostatics_order"]),
    ("list-for-bias", "[biases_V]\nB5 = [1.2]\n", ["biases_V.B5 = [1.2] must be a number"]),
    ("string-for-weight", '[detuning.weights]\nP5 = "half"\n', ["detuning.weights.P5 = 'half'"]),
    ("string-for-refine", '[convergence]\nrefine = "kp_mesh_size_nm"\n', ["convergence.refine"]),
    ("string-for-delta", '[valley_map]\nmodel = "uniform"\ndelta_ueV = "100"\n', ["delta_ueV"]),
    ("int-for-path", '[valley_map]\nmodel = "file"\npath = 3\n', ["valley_map.path = 3"]),
    ("string-for-mesh-size", '[device.params]\nkp_mesh_size_nm = "fine"\n', ["kp_mesh_size_nm"]),
    # unknown keys at every level
    ("unknown-top-level-key", "points = 3\n", ["unknown section(s) ['points']"]),
    ("unknown-device-key", '[device]\nnme = "x"\n', ["[device]: unknown key(s) ['nme']"]),
    ("unknown-solver-key", "[solver]\nnstates = 3\n", ["[solver]: unknown key(s) ['nstates']"]),
    ("unknown-valley-map-key", "[valley_map]\nlx = 3\n", ["[valley_map]: unknown key(s) ['lx']"]),
    ("unknown-output-key", "[output]\nfigure = true\n", ["[output]: unknown key(s) ['figure']"]),
    ("unknown-convergence-key", "[convergence]\nlevel = 3\n", ["[convergence]: unknown key(s)"]),
    ("unknown-reduction-key", "[reduction]\nslice = 3\n", ["[reduction]: unknown key(s)"]),
    (
        "unknown-alloy-table-key",
        '[valley_map]\nmodel = "alloy"\n[[valley_map.alloy.profile]]\nkind = "well"\n'
        "[valley_map.alloy.vertical]\nfield = 5.0\n",
        ["valley_map.alloy", "[vertical]: unknown key(s) ['field']"],
    ),
    # out of range
    ("negative-mesh-size", "[device.params]\nquantum_mesh_size_nm = -1.0\n", ["quantum_mesh"]),
    ("zero-mesh-size", "[device.params]\nkp_mesh_size_nm = 0.0\n", ["kp_mesh_size_nm = 0.0"]),
    ("nan-mesh-size", "[device.params]\nkp_vertical_mesh_size_nm = nan\n", ["kp_vertical"]),
    ("inf-mesh-size", "[device.params]\nmesh_size_nm = inf\n", ["mesh_size_nm = inf"]),
    ("negative-points", "[detuning]\npoints = -3\n", ["detuning.points = -3 must be >= 1"]),
    ("n_states-0", "[solver]\nn_states = 0\n", ["solver.n_states = 0 must be >= 1"]),
    ("n_states-257", "[solver]\nn_states = 257\n", ["solver.n_states = 257 must be <= 256"]),
    (
        "seed-2**63",
        "[valley_map]\nseed = 9223372036854775808\n",
        ["valley_map.seed = 9223372036854775808 must be <= 9223372036854775807"],
    ),
    ("detuning-above-1e4", "[detuning]\nstop_mV = 10000.5\n", ["detuning.stop_mV = 10000.5"]),
    ("detuning-below-1e4", "[detuning]\nstart_mV = -10001.0\n", ["detuning.start_mV = -10001.0"]),
    ("nan-detuning", "[detuning]\nstart_mV = nan\n", ["detuning.start_mV = nan must be finite"]),
    ("inf-detuning", "[detuning]\nstop_mV = inf\n", ["detuning.stop_mV = inf must be finite"]),
    ("-inf-bias", "[biases_V]\nB5 = -inf\n", ["biases_V.B5 = -inf must be finite"]),
    ("nan-weight", "[detuning.weights]\nP5 = nan\n", ["detuning.weights.P5 = nan"]),
    ("zero-weights", "[detuning.weights]\nP5 = 0.0\n", ["detuning.weights are all zero"]),
    ("empty-weights", "[detuning.weights]\n", ["detuning.weights is empty"]),
    ("zero-tolerance", "[solver]\ntolerance_ueV = 0\n", ["solver.tolerance_ueV = 0 must be > 0"]),
    ("nan-tolerance", "[solver]\ntolerance_ueV = nan\n", ["solver.tolerance_ueV = nan"]),
    ("zero-chunk", "[solver]\nchunk_points = 0\n", ["solver.chunk_points = 0 must be >= 1"]),
    ("zero-snapshots", "[solver]\nmax_snapshots = 0\n", ["solver.max_snapshots = 0"]),
    ("too-few-orbitals", "[solver]\norbitals = 2\n", ["solver.orbitals = 2"]),
    ("negative-vtu-states", "[output]\nvtu_states = -1\n", ["output.vtu_states = -1"]),
    ("negative-splitting", "[valley_map]\nmean_valley_splitting_ueV = -200.0\n", ["-200.0"]),
    ("inf-correlation", "[valley_map]\nly_nm = inf\n", ["valley_map", "ly_nm = inf"]),
    ("one-grid-point", "[valley_map]\nnx = 1\n", ["valley_map", "nx = 1"]),
    ("nan-delta", '[valley_map]\nmodel = "uniform"\ndelta_ueV = [nan, 0.0]\n', ["delta_ueV"]),
    ("three-delta", '[valley_map]\nmodel = "uniform"\ndelta_ueV = [1, 2, 3]\n', ["delta_ueV"]),
    (
        "dense-map-too-big",
        '[valley_map]\nsampler = "dense"\nnx = 2000\nny = 200\n',
        ["valley_map.sampler = 'dense'", "2 GiB"],
    ),
    ("one-level", "[convergence]\nlevels = 1\n", ["convergence.levels = 1 must be >= 2"]),
    ("nine-levels", "[convergence]\nlevels = 9\n", ["convergence.levels = 9: at most 8"]),
    ("nan-ratio", "[convergence]\nratio = nan\n", ["convergence.ratio = nan must be finite"]),
    ("unit-ratio", "[convergence]\nratio = 1.0\n", ["convergence.ratio = 1.0 must be in"]),
    ("coarser-levels", "[convergence]\ncoarser_levels = 3\n", ["convergence.coarser_levels"]),
    ("refine-twice", "[convergence]\nrefine = ['kp_mesh_size_nm', 'kp_mesh_size_nm']\n", ["twice"]),
    ("refine-unknown", "[convergence]\nrefine = ['foo_nm']\n", ["convergence.refine: 'foo_nm'"]),
    ("nan-slice", "[reduction]\nslice_z_nm = nan\n", ["reduction.slice_z_nm = nan"]),
    # unknown names
    ("unknown-model", 'model = "quantum"\n', ["model = 'quantum'; allowed"]),
    ("unknown-backend", '[solver]\nbackend = "cuda"\n', ["solver.backend = 'cuda'"]),
    ("unknown-method", '[solver]\nmethod = "exact"\n', ["solver.method = 'exact'"]),
    ("unknown-basis", '[solver]\nreduced_basis = "three_valley"\n', ["solver.reduced_basis"]),
    ("unknown-kp-mesh", '[device]\nkp_mesh = "fine"\n', ["device.kp_mesh = 'fine'"]),
    ("unknown-order", "[device]\nelectrostatics_order = 3\n", ["device.electrostatics_order = 3"]),
    ("unknown-map-model", '[valley_map]\nmodel = "perlin"\n', ["valley_map.model = 'perlin'"]),
    ("unknown-sampler", '[valley_map]\nsampler = "svd"\n', ["valley_map.sampler = 'svd'"]),
    ("unknown-estimate", '[convergence]\nestimate = "richardson"\n', ["convergence.estimate"]),
    ("unknown-slice", '[reduction]\nslice_at = ["interface"]\n', ["reduction.slice_at"]),
    # missing companions
    ("uniform-without-delta", '[valley_map]\nmodel = "uniform"\n', ["valley_map.delta_ueV"]),
    ("file-without-path", '[valley_map]\nmodel = "file"\n', ["valley_map.path"]),
    ("alloy-without-table", '[valley_map]\nmodel = "alloy"\n', ["[valley_map.alloy]"]),
    (
        "alloy-on-gaussian",
        '[[valley_map.alloy.profile]]\nkind = "well"\n',
        ["valley_map.alloy is given but valley_map.model = 'gaussian'"],
    ),
    # defects
    pytest.param(
        "[device]\nparams = 3\n",
        ["device.params"],
        id="int-for-device-params",
    ),
    pytest.param(
        "[detuning]\nweights = 3\n",
        ["detuning.weights"],
        id="int-for-weights",
    ),
    pytest.param(
        "[detuning]\nweights = [0.5, -0.5]\n",
        ["detuning.weights"],
        id="list-for-weights",
    ),
    pytest.param(
        "[detuning]\nstart_mV = 1" + "0" * 400 + "\n",
        ["detuning.start_mV"],
        id="huge-int-for-float",
    ),
    pytest.param(
        "[device.params]\nkp_mesh_size_nm = 1" + "0" * 400 + "\n",
        ["kp_mesh_size_nm"],
        id="huge-int-mesh-size",
    ),
    pytest.param(
        "[valley_map]\nlx_nm = true\n",
        ["valley_map", "lx_nm"],
        id="bool-for-correlation-length",
    ),
    pytest.param(
        "[valley_map]\nmean_valley_splitting_ueV = true\n",
        ["mean_valley_splitting_ueV"],
        id="bool-for-mean-splitting",
    ),
    pytest.param(
        '[valley_map]\nmodel = "alloy"\n[valley_map.alloy]\nprofile = [3]\n',
        ["profile[0]"],
        id="int-in-alloy-profile",
    ),
    pytest.param(
        '[device.params]\ndot_width_nm = "x"\n',
        ["dot_width_nm"],
        id="string-for-dot-width",
    ),
]


@pytest.mark.parametrize(
    ("toml", "words"),
    _params(STUDY_CASES),
)
def test_a_bad_study_file_is_refused_naming_the_field(tmp_path, capsys, toml, words):
    study = _write(tmp_path / "s.toml", toml)
    out = tmp_path / "o"
    _fails(capsys, ["run", study, "--out", out], words=words, max_len=MAX_MESSAGE)
    assert not out.exists()  # refused before anything was created


def test_a_bad_study_file_leaves_an_existing_store_unchanged(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    _results_store(out / "results.h5")
    before = _files(out)
    study = _write(tmp_path / "s.toml", "[solver]\nn_states = 0\n")
    _fails(capsys, ["run", study, "--out", out, "--resume"], words=["solver.n_states = 0"])
    assert _files(out) == before


# -- study files: bytes, paths and permissions ---------------------------------------------------
def test_a_study_file_with_non_utf8_bytes_is_named(tmp_path, capsys):
    study = tmp_path / "latin1.toml"
    study.write_bytes(b"[detuning]\npoints = 3\n# caf\xe9\n")
    _fails(capsys, ["run", study, "--out", tmp_path / "o"], words=["latin1.toml"])


def test_from_toml_names_a_non_utf8_file(tmp_path):
    study = tmp_path / "latin1.toml"
    study.write_bytes(b"[detuning]\npoints = 3\n# caf\xe9\n")
    with pytest.raises(ValueError, match="latin1.toml"):
        StudyConfig.from_toml(study)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads a file without read permission anyway",
)
def test_a_study_file_without_read_permission_is_named(tmp_path, capsys):
    study = _write(tmp_path / "secret.toml", "[detuning]\npoints = 3\n")
    study.chmod(0)
    try:
        _fails(capsys, ["run", study, "--out", tmp_path / "o"], words=["secret.toml", "permission"])
    finally:
        study.chmod(0o644)
    assert not (tmp_path / "o").exists()


def test_a_study_file_name_too_long_for_the_system_is_named(tmp_path, capsys):
    # fails as root too: the kernel refuses the name (ENAMETOOLONG)
    study = tmp_path / ("s" * 300 + ".toml")
    _fails(capsys, ["run", study, "--out", tmp_path / "o"], words=["sss", "too long"])


def test_a_device_file_as_study_file_is_named(tmp_path, capsys):
    # /dev/null exists but is not a regular file; reading it as root works but gives nothing
    _fails(capsys, ["run", "/dev/null", "--out", tmp_path / "o"], words=["/dev/null"])
    assert not (tmp_path / "o").exists()


def test_a_study_path_through_a_file_is_refused(tmp_path, capsys):
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    _fails(capsys, ["converge", study / "inner.toml"], words=["s.toml/inner.toml"])


def test_a_dangling_symlink_as_study_file_is_named(tmp_path, capsys):
    link = tmp_path / "link.toml"
    link.symlink_to(tmp_path / "gone.toml")
    _fails(capsys, ["run", link, "--out", tmp_path / "o"], words=["link.toml", "does not exist"])


def test_from_toml_of_a_directory_names_it(tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        StudyConfig.from_toml(tmp_path)


# -- huge values are cut in the message ---------------------------------------------------------
HUGE_CASES = [
    ("seed-list", "[valley_map]\nseed = [{LIST}]\n", "valley_map.seed"),
    ("unknown-key", "[detuning]\n{HUGE} = 1\n", "[detuning]: unknown key"),
    ("unknown-section", "[{HUGE}]\n", "unknown section"),
    ("gate-name", "[biases_V]\n{HUGE} = 1.0\n", "biases_V."),
    ("device-name", "[device]\nname = '{HUGE}'\n", "device.name"),
    ("backend", "[solver]\nbackend = '{HUGE}'\n", "solver.backend"),
    ("model", "model = '{HUGE}'\n", "model = "),
    ("string-for-float", "[detuning]\nstart_mV = '{HUGE}'\n", "detuning.start_mV"),
    ("string-for-biases-table", "biases_V = '{HUGE}'\n", "[biases_V]"),
    ("string-for-section", "detuning = '{HUGE}'\n", "[detuning]"),
    ("ensemble-seed-list", "[ensemble]\nseeds = [{ZEROS}]\n", "ensemble.seeds"),
]


@pytest.mark.parametrize(
    ("template", "words"),
    [pytest.param(t, w, id=i) for i, t, w in HUGE_CASES],
)
def test_a_huge_value_is_cut_in_the_message(tmp_path, capsys, template, words):
    text = (
        template.replace("{HUGE}", HUGE)
        .replace("{LIST}", ", ".join(["1"] * 40_000))
        .replace("{ZEROS}", ", ".join(["0"] * 40_000))
    )
    study = _write(tmp_path / "s.toml", text)
    assert study.stat().st_size > 70_000
    _fails(capsys, ["run", study, "--out", tmp_path / "o"], words=[words], max_len=MAX_MESSAGE)
    assert not (tmp_path / "o").exists()


# == ensembles on the command line =============================================================
ENSEMBLE_CASES = [
    ("seeds-negative-in-list", "seeds = [1, -2]", ["ensemble.seeds = [1, -2]"]),
    ("seeds-empty-list", "seeds = []", ["ensemble.seeds = []"]),
    ("seeds-string", 'seeds = "10"', ["ensemble.seeds = '10'"]),
    ("seeds-bool", "seeds = true", ["ensemble.seeds = True"]),
    ("seeds-floats", "seeds = [1.0, 2.0]", ["ensemble.seeds = [1.0, 2.0]"]),
    ("seeds-negative-count", "seeds = -1", ["ensemble.seeds = -1 must be >= 1"]),
    ("seeds-table", "seeds = {a = 1}", ["ensemble.seeds"]),
    (
        "seed-above-2**63-1",
        "seeds = [9223372036854775808]",
        ["9223372036854775808", "largest seed 9223372036854775807"],
    ),
    ("seed_start-negative", "seeds = 2\nseed_start = -5", ["ensemble.seed_start = -5"]),
    ("seed_start-string", 'seeds = 2\nseed_start = "0"', ["ensemble.seed_start = '0'"]),
    ("combine-unknown", 'seeds = 2\ncombine = "product"', ["ensemble.combine = 'product'"]),
    ("chunk-zero", "seeds = 2\nchunk_realisations = 0", ["ensemble.chunk_realisations = 0"]),
    ("threshold-nan", "seeds = 2\nthreshold_ueV = nan", ["ensemble.threshold_ueV = nan"]),
    (
        "parameter-empty-list",
        "seeds = 2\n[ensemble.parameters]\n'biases_V.B5' = []",
        ["ensemble.parameters.biases_V.B5 = []"],
    ),
    (
        "parameter-nested-table",
        "seeds = 2\n[ensemble.parameters.biases_V]\nB5 = [1.2]",
        ["ensemble.parameters.biases_V"],
    ),
    (
        "parameter-model",
        "seeds = 2\n[ensemble.parameters]\nmodel = ['3d', 'bo2d']",
        ["'model' cannot vary"],
    ),
    (
        "parameter-points",
        "seeds = 2\n[ensemble.parameters]\n'detuning.points' = [3, 5]",
        ["'detuning.points' cannot vary"],
    ),
    (
        "parameter-unknown-gate",
        "seeds = 2\n[ensemble.parameters]\n'biases_V.P9' = [1.0]",
        ["biases_V.P9: no gate"],
    ),
    (
        "parameter-negative-mesh",
        "seeds = 2\n[ensemble.parameters]\n'device.params.kp_mesh_size_nm' = [-1.0]",
        ["kp_mesh_size_nm = -1.0"],
    ),
    (
        "parameter-second-value-bad",
        "seeds = 2\n[ensemble.parameters]\n'solver.backend' = ['auto', 'cuda']",
        ["combination 1", "solver.backend = 'cuda'"],
    ),
    (
        "parameter-nan",
        "seeds = 2\n[ensemble.parameters]\n'valley_map.mean_valley_splitting_ueV' = [nan]",
        ["mean_valley_splitting_ueV = nan"],
    ),
    (
        "parameter-too-deep",
        "seeds = 2\n[ensemble.parameters]\n'detuning.weights.P5.x' = [1]",
        ["'detuning.weights.P5.x' is not a study field"],
    ),
    ("workers-string", 'seeds = 2\n[execution]\nworkers = "2"', ["execution.workers = '2'"]),
    ("workers-negative", "seeds = 2\n[execution]\nworkers = -1", ["execution.workers = -1"]),
    ("workers-bool", "seeds = 2\n[execution]\nworkers = true", ["execution.workers = True"]),
    ("scheduler-int", "seeds = 2\n[execution]\nscheduler = 8786", ["execution.scheduler = 8786"]),
    ("scheduler-empty", "seeds = 2\n[execution]\nscheduler = ''", ["execution.scheduler = ''"]),
    ("execution-unknown-key", "seeds = 2\n[execution]\nthreads = 2", ["[execution]: unknown key"]),
    ("study-field-bad", "seeds = 2\n[detuning]\npoints = 0", ["detuning.points = 0"]),
    (
        "seeds-2**63-1",
        "seeds = 9223372036854775807",
        ["9223372036854775807", "seeds"],  # refused by the memory estimate, naming the seeds
    ),
    pytest.param(
        "seeds = 2.5",
        ["ensemble.seeds"],
        id="seeds-float-count",
    ),
    pytest.param(
        "seeds = 2\nparameters = 3",
        ["ensemble.parameters"],
        id="parameters-int",
    ),
    pytest.param(
        "seeds = 2\nparameters = ['biases_V.B5']",
        ["ensemble.parameters"],
        id="parameters-list",
    ),
]


@pytest.mark.parametrize(
    ("body", "words"),
    _params(ENSEMBLE_CASES),
)
def test_a_bad_ensemble_file_is_refused_naming_the_field(tmp_path, capsys, body, words):
    study = _write(tmp_path / "e.toml", f"[ensemble]\n{body}\n")
    out = tmp_path / "o"
    _fails(capsys, ["run", study, "--out", out], words=words, max_len=MAX_MESSAGE)
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ensemble = 3\n", ["[ensemble] must be a table, not 3"]),
        ("execution = 2\n[ensemble]\nseeds = 2\n", ["[execution] must be a table, not 2"]),
    ],
    ids=["ensemble-not-a-table", "execution-not-a-table"],
)
def test_an_ensemble_table_of_the_wrong_kind_is_refused(tmp_path, capsys, text, words):
    study = _write(tmp_path / "e.toml", text)
    _fails(capsys, ["run", study, "--out", tmp_path / "o"], words=words)
    assert not (tmp_path / "o").exists()


# == command-line options ======================================================================
@pytest.mark.parametrize(
    ("options", "words"),
    [
        pytest.param(
            ["--levels", "1"],
            ["convergence.levels = 1"],
            id="levels-1",
        ),
        pytest.param(
            ["--ratio", "0.5"],
            ["convergence.ratio = 0.5"],
            id="ratio-0.5",
        ),
        pytest.param(
            ["--ratio", "nan"],
            ["convergence.ratio = nan"],
            id="ratio-nan",
        ),
    ],
)
def test_bad_convergence_options_are_refused_before_anything_is_written(
    tmp_path, capsys, options, words
):
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    out = tmp_path / "o"
    _fails(capsys, ["converge", study, "--out", out, "--quiet", *options], words=words)
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "{study}", "--workers", "abc"], ["--workers", "invalid int value: 'abc'"]),
        (["converge", "{study}", "--levels", "two"], ["--levels", "invalid int value"]),
        (["run", "{study}", "--model", "4d"], ["--model", "invalid choice: '4d'"]),
        (["export", "{tmp}", "--states", "many"], ["--states", "invalid int value"]),
        (["valley-splitting", "{study}", "--method", "exact"], ["--method", "invalid choice"]),
        (["simulate"], ["invalid choice: 'simulate'"]),
    ],
    ids=["workers-abc", "levels-two", "model-4d", "states-many", "method-exact", "no-command"],
)
def test_bad_options_are_usage_errors(tmp_path, capsys, argv, words):
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    argv = [a.replace("{study}", str(study)).replace("{tmp}", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    last = captured.err.strip().splitlines()[-1]  # argparse: usage lines, then the error
    for w in words:
        assert w in last, captured.err


def test_an_output_path_through_a_file_is_named(tmp_path, capsys):
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    taken = _write(tmp_path / "taken.txt", "a user's file")
    _fails(
        capsys,
        ["run", study, "--out", taken / "sub", "--quiet"],
        words=["taken.txt/sub", "is a file, not a directory"],
    )
    assert taken.read_text() == "a user's file"


def test_converge_into_a_file_is_refused(tmp_path, capsys):
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    taken = _write(tmp_path / "taken.txt", "a user's file")
    _fails(capsys, ["converge", study, "--out", taken], words=[f"--out {taken} is a file"])
    assert taken.read_text() == "a user's file"


# == stores given to --resume ==================================================================
def test_a_new_study_into_a_directory_with_a_store_is_refused(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "results.h5").write_bytes(DAMAGED["garbage"])
    before = _files(out)
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    _fails(
        capsys,
        ["run", study, "--out", out, "--quiet"],
        words=[str(out / "results.h5"), "already exists", "--resume"],
    )
    assert _files(out) == before


@pytest.mark.parametrize("content", list(DAMAGED.values()), ids=list(DAMAGED))
def test_converge_resume_names_a_damaged_level_store(tmp_path, capsys, content):
    out = tmp_path / "o"
    (out / "level_0").mkdir(parents=True)
    (out / "level_0" / "results.h5").write_bytes(content)
    before = _files(out)
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    _fails(
        capsys,
        ["converge", study, "--out", out, "--resume", "--quiet"],
        words=[str(out / "level_0" / "results.h5"), "move it away"],
    )
    assert _files(out) == before


def test_resume_names_a_damaged_snapshot_checkpoint_before_any_computation(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "snapshots.h5").write_bytes(b"")
    before = _files(out)
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    _fails(
        capsys,
        ["run", study, "--out", out, "--resume", "--quiet"],
        words=[str(out / "snapshots.h5")],
    )
    assert _files(out) == before


def test_resume_of_a_study_into_an_ensemble_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "ensemble.h5").write_bytes(DAMAGED["garbage"])
    before = _files(out)
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    _fails(capsys, ["run", study, "--out", out, "--resume", "--quiet"], words=["ensemble.h5"])
    assert _files(out) == before


# == export ====================================================================================
def test_export_of_a_directory_without_a_study_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _fails(
        capsys,
        ["export", tmp_path / "empty"],
        words=[str(tmp_path / "empty" / "results.h5"), "does not exist", "femvalley run"],
    )
    assert list((tmp_path / "empty").iterdir()) == []


def test_export_of_a_file_is_refused(tmp_path, capsys):
    study = _write(tmp_path / "s.toml", "[detuning]\npoints = 3\n")
    _fails(capsys, ["export", study], words=["s.toml"])
    assert study.read_text() == "[detuning]\npoints = 3\n"


@pytest.mark.parametrize("content", list(DAMAGED.values()), ids=list(DAMAGED))
def test_export_names_a_damaged_results_store(tmp_path, capsys, content):
    (tmp_path / "results.h5").write_bytes(content)
    before = _files(tmp_path)
    _fails(
        capsys,
        ["export", tmp_path],
        words=[str(tmp_path / "results.h5"), "not a readable results store"],
    )
    assert _files(tmp_path) == before
    assert not (tmp_path / "paraview").exists()


def test_export_names_a_truncated_copy_of_a_results_store(tmp_path, capsys):
    _truncated_hdf5(tmp_path / "results.h5")
    before = _files(tmp_path)
    _fails(capsys, ["export", tmp_path], words=[str(tmp_path / "results.h5"), "truncated"])
    assert _files(tmp_path) == before


def test_export_names_a_results_store_that_is_a_directory(tmp_path, capsys):
    (tmp_path / "results.h5").mkdir()
    _fails(capsys, ["export", tmp_path], words=[str(tmp_path / "results.h5")])


@pytest.mark.parametrize(
    ("states", "words"),
    [("-1", ["n_states = -1", ">= 0"]), ("99", ["n_states = 99", "at most 2"])],
    ids=["negative", "more-than-computed"],
)
def test_export_states_out_of_range_are_refused(tmp_path, capsys, states, words):
    _results_store(tmp_path / "results.h5")
    before = _files(tmp_path)
    _fails(capsys, ["export", tmp_path, "--states", states], words=words)
    assert _files(tmp_path) == before
    assert not (tmp_path / "paraview").exists()


def test_export_names_a_results_store_without_its_mesh(tmp_path, capsys):
    _results_store(tmp_path / "results.h5", mesh=False)
    before = _files(tmp_path)
    _fails(capsys, ["export", tmp_path], words=[str(tmp_path / "results.h5"), "mesh"])
    assert _files(tmp_path) == before


def test_export_names_a_damaged_basis_file(tmp_path, capsys):
    _results_store(tmp_path / "results.h5")
    (tmp_path / "basis.h5").write_bytes(DAMAGED["garbage"])
    before = _files(tmp_path)
    _fails(capsys, ["export", tmp_path, "--states", "1"], words=[str(tmp_path / "basis.h5")])
    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            b"not a numpy file",
            id="garbage",
        ),
        pytest.param(
            b"",
            id="zero-bytes",
        ),
    ],
)
def test_export_names_a_damaged_point_state_file(tmp_path, capsys, content):
    _results_store(tmp_path / "results.h5")
    (tmp_path / "states").mkdir()
    (tmp_path / "states" / "point_00000.npy").write_bytes(content)
    before = _files(tmp_path)
    _fails(capsys, ["export", tmp_path, "--states", "1"], words=["point_00000.npy"])
    assert _files(tmp_path) == before


# == valley-splitting profiles =================================================================
PROFILE = '[[profile]]\nkind = "well"\nwidth_nm = 8.0\n'


@pytest.mark.parametrize(
    ("text", "options", "words"),
    [
        pytest.param(PROFILE, ["--realisations", "0"], ["realisations = 0"], id="realisations-0"),
        pytest.param(PROFILE, ["--seed", "-1"], ["seed = -1"], id="seed-negative"),
        pytest.param("", [], ["p.toml", "[[profile]]"], id="empty-file"),
        pytest.param('[profile]\nkind = "well"\n', [], ["profile must be"], id="profile-table"),
        pytest.param('[[profile]\nkind = "well"\n', [], ["p.toml", "not valid TOML"], id="syntax"),
        pytest.param(
            PROFILE + "[vertical]\nn_monolayers = 0\n", [], ["n_monolayers = 0"], id="monolayers-0"
        ),
        pytest.param(
            PROFILE + "[vertical]\nfield_MV_per_m = inf\n", [], ["field_MV_per_m"], id="field-inf"
        ),
        pytest.param(
            PROFILE + "[disorder]\nrealisations = 10.0\n", [], ["realisations = 10.0"], id="float"
        ),
        pytest.param(
            PROFILE + '[disorder]\nmethod = "exact"\n', [], ["disorder.method"], id="method"
        ),
        pytest.param(PROFILE + "[dot]\nstep = 1.0\n", [], ["[dot]: unknown key"], id="dot-key"),
        pytest.param(
            '[[profile]]\nkind = "well"\ndepth = 1\n', [], ["profile[0] (well)"], id="profile-key"
        ),
        pytest.param(
            '[[profile]]\nkind = "well"\nbarrier_ge = -0.1\n', [], ["barrier_ge"], id="ge-negative"
        ),
        pytest.param(
            PROFILE + '[dot]\nbox_nm = "wide"\n',
            [],
            ["box_nm"],
            id="box-string",
        ),
        pytest.param(
            PROFILE + '[dot]\nstep_nm = "fine"\n',
            [],
            ["step_nm"],
            id="step-string",
        ),
        pytest.param(
            '[[profile]]\nkind = ["well"]\n',
            [],
            ["profile[0].kind"],
            id="kind-list",
        ),
        pytest.param(
            '[[profile]]\nkind = "' + HUGE + '"\n',
            [],
            ["profile[0].kind"],
            id="kind-200kB",
        ),
    ],
)
def test_a_bad_profile_is_refused_naming_the_field(tmp_path, capsys, text, options, words):
    profile = _write(tmp_path / "p.toml", text)
    out = tmp_path / "o"
    _fails(
        capsys,
        ["valley-splitting", profile, "--out", out, *options],
        words=words,
        max_len=MAX_MESSAGE,
    )
    assert not out.exists()


def test_a_profile_with_non_utf8_bytes_is_named(tmp_path, capsys):
    profile = tmp_path / "p.toml"
    profile.write_bytes(b'[[profile]]\nkind = "well\xff"\n')
    _fails(capsys, ["valley-splitting", profile, "--out", tmp_path / "o"], words=["p.toml"])


def test_a_directory_given_as_profile_is_named(tmp_path, capsys):
    _fails(capsys, ["valley-splitting", tmp_path, "--out", tmp_path / "o"], words=[str(tmp_path)])
    assert not (tmp_path / "o").exists()


# == Python API: stores ========================================================================
@pytest.mark.parametrize("content", list(DAMAGED.values()), ids=list(DAMAGED))
def test_read_results_names_a_damaged_store(tmp_path, content):
    path = tmp_path / "results.h5"
    path.write_bytes(content)
    with pytest.raises(CorruptStoreError, match=re.escape(str(path)) + " is not a readable"):
        read_results(path)
    assert path.read_bytes() == content


@pytest.mark.parametrize("kind", ["truncated-copy", "directory", "missing"])
def test_read_results_names_an_unreadable_path(tmp_path, kind):
    path = tmp_path / "results.h5"
    if kind == "truncated-copy":
        _truncated_hdf5(path)
    elif kind == "directory":
        path.mkdir()
    with pytest.raises(CorruptStoreError, match=re.escape(str(path))):
        read_results(path)


def test_read_ensemble_names_a_truncated_copy(tmp_path):
    path = tmp_path / "ensemble.h5"
    content = _truncated_hdf5(path)
    with pytest.raises(CorruptStoreError, match=re.escape(str(path)) + ".*ensemble store"):
        read_ensemble(path)
    assert path.read_bytes() == content


@pytest.mark.parametrize(
    "content", [DAMAGED["zero-bytes"], DAMAGED["hdf5-signature-only"]], ids=["zero", "signature"]
)
def test_states_load_names_a_damaged_basis_file(tmp_path, content):
    path = tmp_path / "basis.h5"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": cannot be read as HDF5"):
        StudyStates.load(tmp_path)


@pytest.mark.parametrize("fmt", [None, "femvalley.basis/2"], ids=["no-format", "other-format"])
def test_states_load_refuses_an_hdf5_file_of_another_format(tmp_path, fmt):
    path = tmp_path / "basis.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=[1.0])
        if fmt is not None:
            f.attrs["format"] = fmt
    with pytest.raises(ValueError, match=re.escape(str(path)) + " is not a femvalley basis"):
        StudyStates.load(path)


@pytest.mark.parametrize(
    "drop",
    [
        pytest.param("mass"),
        pytest.param("reduced"),
        pytest.param("n_states"),
    ],
)
def test_states_load_names_a_basis_file_with_missing_data(tmp_path, drop):
    path = _basis_file(tmp_path / "basis.h5", drop=drop)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        StudyStates.load(tmp_path)


@pytest.mark.parametrize("kind", ["damaged", "missing-dataset"])
def test_states_load_names_a_bad_results_store_beside_the_basis(tmp_path, kind):
    _basis_file(tmp_path / "basis.h5")
    store = tmp_path / "results.h5"
    if kind == "damaged":
        store.write_bytes(b"")
    else:
        with h5py.File(store, "w") as f:
            f.create_dataset("done", data=[1])
    with pytest.raises(ValueError, match=re.escape(str(store)) + ": not a readable"):
        StudyStates.load(tmp_path)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda s: s.at(float("inf")), "detuning_mV = inf", id="detuning-inf"),
        pytest.param(lambda s: s.at(0.0, n_states=True), "n_states = True", id="states-bool"),
        pytest.param(lambda s: s.at(0.0, n_states=2.5), "n_states = 2.5", id="states-float"),
        pytest.param(lambda s: s.at(0.0, n_states=5), "n_states = 5", id="states-too-many"),
        pytest.param(lambda s: s.at(0.0).density(-1), "j = -1", id="density-negative"),
        pytest.param(
            lambda s: s.at("left"),
            "detuning_mV",
            id="detuning-string",
        ),
    ],
)
def test_bad_requests_to_stored_states_name_the_argument(tmp_path, call, field):
    states = StudyStates.load(_basis_file(tmp_path / "basis.h5"))
    with pytest.raises(ValueError, match=re.escape(field)):
        call(states)


# == Python API: configurations ================================================================
@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param(
            {"device": {"params": 3}},
            "device.params",
            id="params-int",
        ),
        pytest.param(
            {"detuning": {"weights": "P5"}},
            "detuning.weights",
            id="weights-string",
        ),
        pytest.param(
            {"biases_V": {"B5": 10**400}},
            "biases_V.B5",
            id="bias-huge-int",
        ),
        pytest.param({"model": None}, "model = None", id="model-none"),
        pytest.param({"device": {"name": None}}, "device.name = None", id="device-none"),
        pytest.param(
            {"device": {"params": {"kp_mesh_size_nm": [1.0, 2.0]}}},
            "kp_mesh_size_nm",
            id="mesh-size-list",
        ),
        pytest.param({"solver": {"n_states": 2**70}}, "solver.n_states", id="n-states-2**70"),
        pytest.param({"valley_map": {"seed": -(2**70)}}, "valley_map.seed", id="seed--2**70"),
        pytest.param(
            {"valley_map": {"model": "alloy", "alloy": {"profile": []}}},
            "profile must be a non-empty list",
            id="alloy-empty-profile",
        ),
    ],
)
def test_study_from_dict_names_the_field(data, field):
    with pytest.raises(ValueError, match=re.escape(field)):
        StudyConfig.from_dict(data)


@pytest.mark.parametrize(
    ("ensemble", "execution", "field"),
    [
        pytest.param({"seeds": 2, "seed_start": 2**63}, None, "largest seed", id="start-2**63"),
        pytest.param({"seeds": 2, "threshold_ueV": "50"}, None, "threshold_ueV", id="thr-str"),
        pytest.param({"seeds": 2, "chunk_realisations": 2.0}, None, "chunk_real", id="chunk-2.0"),
        pytest.param({"seeds": 2}, {"workers": 2.0}, "execution.workers", id="workers-2.0"),
        pytest.param({"seeds": 2}, {"scheduler": ["tcp://a:1"]}, "execution.sch", id="sched-list"),
        pytest.param(
            {"seeds": 2, "parameters": {"": [1]}}, None, "'' is not a study field", id="empty-path"
        ),
        pytest.param(
            {"seeds": 2, "parameters": {"output.vtu_states": [-1]}},
            None,
            "output.vtu_states = -1",
            id="vtu-states",
        ),
        pytest.param(
            {"seeds": [3, 4.5]},
            None,
            "ensemble.seeds",
            id="seed-list-with-float",
        ),
        pytest.param(
            {"seeds": 2.5},
            None,
            "ensemble.seeds",
            id="seeds-float",
        ),
        pytest.param(
            {"seeds": 2, "parameters": ["biases_V.B5"]},
            None,
            "ensemble.parameters",
            id="parameters-list",
        ),
    ],
)
def test_ensemble_from_dict_names_the_field(ensemble, execution, field):
    data = {"detuning": {"points": 3}, "ensemble": ensemble}
    if execution is not None:
        data["execution"] = execution
    with pytest.raises(ValueError, match=re.escape(field)):
        EnsembleConfig.from_dict(data)


P = [{"kind": "well", "width_nm": 10.0}]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"profile": P, "dot": {"box_nm": [1.0, 2.0, 3.0]}}, "box_nm", id="box-3"),
        pytest.param({"profile": P, "dot": {"box_nm": [-1.0, 2.0]}}, "box_nm", id="box-neg"),
        pytest.param({"profile": P, "dot": {"step_nm": 0.0}}, "step_nm", id="step-0"),
        pytest.param({"profile": P, "dot": {"hbar_omega_meV": -5.0}}, "hbar_omega", id="hw-neg"),
        pytest.param({"profile": P, "disorder": {"seed": -1}}, "seed = -1", id="seed-neg"),
        pytest.param({"profile": P, "vertical": 5.0}, "[vertical] must be a table", id="vert"),
        pytest.param({"profile": P, "lateral": {}}, "unknown table(s) ['lateral']", id="table"),
        pytest.param({"profile": "well"}, "profile must be", id="profile-string"),
        pytest.param({"profile": [{"width_nm": 1.0}]}, "profile[0].kind = None", id="no-kind"),
        pytest.param(
            {"profile": [{"kind": "spike", "sigma_nm": "x"}]}, "sigma_nm", id="sigma-string"
        ),
        pytest.param(
            {"profile": [{"kind": "wiggle", "wavenumber_per_nm": float("nan")}]},
            "wavenumber_per_nm",
            id="wavenumber-nan",
        ),
        pytest.param(
            {"profile": P, "dot": {"box_nm": 3}},
            "box_nm",
            id="box-int",
        ),
        pytest.param(
            {"profile": P, "dot": {"hbar_omega_meV": "x"}},
            "hbar_omega_meV",
            id="hw-string",
        ),
        pytest.param(
            {"profile": [3]},
            "profile[0]",
            id="profile-int",
        ),
    ],
)
def test_heterostructure_from_dict_names_the_field(data, field):
    with pytest.raises(ValueError, match=re.escape(field)):
        HeterostructureConfig.from_dict(data)


# == Python API: valley maps ===================================================================
SPEC = {"mean_valley_splitting_ueV": 200.0, "lx_nm": 19.2, "ly_nm": 100.0, "nx": 6, "ny": 4}


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda: ValleyMapSpec(**{**SPEC, "ny": True}), "ny = True", id="ny-bool"),
        pytest.param(lambda: ValleyMapSpec(**{**SPEC, "seed": 1.5}), "seed = 1.5", id="seed"),
        pytest.param(lambda: ValleyMapSpec(**{**SPEC, "lx_nm": "x"}), "lx_nm", id="lx-string"),
        pytest.param(
            lambda: sample_grid(ValleyMapSpec(**SPEC), x_range_nm=(0, 1), y_range_nm=(1, 0)),
            "y_range_nm",
            id="y-range-reversed",
        ),
        pytest.param(
            lambda: uniform_valley_map(complex(float("nan"), 0.0), np.zeros((2, 3))),
            "delta_ueV",
            id="uniform-nan",
        ),
        pytest.param(
            lambda: uniform_valley_map(1.0, np.zeros((4, 3))), "points_nm", id="points-4d"
        ),
        pytest.param(
            lambda: uniform_valley_map(1.0, np.zeros((2, 0))), "points_nm", id="no-points"
        ),
        pytest.param(
            lambda: ValleyMapSpec(**{**SPEC, "lx_nm": True}),
            "lx_nm",
            id="lx-bool",
        ),
        pytest.param(
            lambda: uniform_valley_map("abc", np.zeros((2, 3))),
            "delta_ueV",
            id="uniform-string",
        ),
        pytest.param(
            lambda: sample_grid(ValleyMapSpec(**SPEC), x_range_nm=(0, 1, 2), y_range_nm=(0, 1)),
            "x_range_nm",
            id="x-range-3",
        ),
    ],
)
def test_valley_map_functions_name_the_argument(call, field):
    with pytest.raises(ValueError, match=re.escape(field)):
        call()


def _grid_file(path: Path, **arrays) -> Path:
    base = {"x_nm": np.array([0.0, 1.0]), "y_nm": np.array([0.0, 1.0])}
    base["delta_ueV"] = np.ones((2, 2), dtype=complex)
    base.update(arrays)
    if path.suffix == ".npz":
        np.savez(path, **base)
    else:
        with h5py.File(path, "w") as f:
            for k, v in base.items():
                if isinstance(v, dict):
                    f.create_group(k)
                else:
                    f.create_dataset(k, data=v)
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        pytest.param(
            lambda p: p.with_suffix(".h5").write_bytes(b""), "cannot be read as HDF5", id="h5-0"
        ),
        pytest.param(
            lambda p: p.with_suffix(".npz").write_bytes(b""), "cannot be read as .npz", id="npz-0"
        ),
        pytest.param(
            lambda p: p.with_suffix(".hdf5").write_bytes(DAMAGED["hdf5-signature-only"]),
            "cannot be read as HDF5",
            id="hdf5-signature",
        ),
        pytest.param(lambda p: p.with_suffix(".npz").mkdir(), "does not exist", id="directory"),
        pytest.param(
            lambda p: _grid_file(p.with_suffix(".npz"), x_nm=np.array([True, False])),
            "x_nm has dtype bool",
            id="bool-axis",
        ),
        pytest.param(
            lambda p: _grid_file(p.with_suffix(".h5"), x_nm=np.float64(1.0)),
            "x_nm has shape ()",
            id="scalar-axis",
        ),
        pytest.param(
            lambda p: _grid_file(p.with_suffix(".h5"), delta_ueV=np.array([[b"a", b"b"]] * 2)),
            "delta_ueV has dtype",
            id="bytes-delta",
        ),
        pytest.param(
            lambda p: _grid_file(p.with_suffix(".h5"), y_nm={}),
            "y_nm is an HDF5 group",
            id="group-axis",
        ),
        pytest.param(
            lambda p: _grid_file(p.with_suffix(".npz"), x_nm=np.array([0.0, "a"], dtype=object)),
            "cannot be read as .npz",
            id="object-axis",
        ),
    ],
)
def test_a_bad_valley_map_file_is_named_with_its_problem(tmp_path, make, problem):
    make(tmp_path / "map")
    (path,) = [p for p in tmp_path.iterdir() if p.stem == "map"]
    with pytest.raises(ValueError, match=re.escape(repr(str(path))) + ".*" + re.escape(problem)):
        read_valley_grid_arrays(path)
