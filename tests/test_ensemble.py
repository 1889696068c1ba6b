"""Ensembles: correct per realisation, identical on Dask, resumable, and robust to lost workers.

One coarse Tunnel Falls ensemble (6 seeds x 2 mean valley splittings, 7 detunings, 4 states)
is the reference. Every realisation must equal an independent study of its own resolved
configuration within the certified bounds; a Dask LocalCluster must reproduce it number for
number; a run interrupted after its first task, or one that loses a Dask worker mid-way, must
end with the same numbers.
"""

from __future__ import annotations

import dataclasses
import os
import signal

import numpy as np
import pytest

from femvalley.cli import main
from femvalley.ensemble import (
    EnsembleConfig,
    ensemble_statistics,
    read_ensemble,
    run_ensemble,
)
from femvalley.sweep import run_sweep

from .conftest import COARSE_STUDY_PARAMS

ENSEMBLE = {
    "device": {"params": COARSE_STUDY_PARAMS},
    "detuning": {"points": 7},
    "solver": {"n_states": 4},
    "output": {"figures": False, "vtu_states": 0},
    "ensemble": {
        "seeds": 6,
        "seed_start": 3,
        "chunk_realisations": 2,
        "parameters": {"valley_map.mean_valley_splitting_ueV": [100.0, 200.0]},
    },
}
NUMBERS = (
    "energies_meV",
    "dot_weight",
    "error_bound_meV",
    "full_solve",
    "valley_splitting_L_ueV",
    "tunnel_coupling_ueV",
    "tunnel_coupling_bound_ueV",
)


@pytest.fixture(scope="module")
def config():
    return EnsembleConfig.from_dict(ENSEMBLE)


@pytest.fixture(scope="module")
def reference(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble")
    return out, run_ensemble(config, out_dir=out, progress=False)


def _same(a, b):
    for name in NUMBERS:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)


def test_every_realisation_equals_its_own_study(config, reference, tmp_path):
    out, res = reference
    stored = read_ensemble(out / "ensemble.h5")
    assert stored["done"].all() and stored["seed"].tolist() == [3, 4, 5, 6, 7, 8] * 2
    assert (
        stored["parameters"]["valley_map.mean_valley_splitting_ueV"].tolist()
        == [100.0] * 6 + [200.0] * 6
    )
    _same(stored, res)
    assert np.all(stored["error_bound_meV"] <= 1e-3)  # every point certified to 1 ueV
    # provenance: the realisation's own study, rebuilt from the ensemble, gives its numbers
    for i in (1, 8):
        study = config.point_config(i)
        assert study.valley_map.seed == stored["seed"][i]
        own = run_sweep(study, out_dir=tmp_path / str(i), progress=False)
        tol = stored["error_bound_meV"][i].max() + np.nanmax(own["error_bound_meV"]) + 1e-9
        np.testing.assert_allclose(stored["energies_meV"][i], own["energies_meV"], atol=tol)
        from femvalley.io.toml import text_digest

        assert stored["point_config_sha256"][i] == text_digest(study.to_toml())
        assert ":" in stored["worker"][i] and stored["finished_utc"][i].endswith("Z")


def test_valley_splitting_scales_with_the_map(reference):
    # the same seed with twice the mean: Delta doubles everywhere, and the dot's valley
    # splitting (2 |<psi|Delta|psi>| to first order) doubles with it
    _, res = reference
    for side in ("L", "R"):
        ev = np.asarray(res[f"valley_splitting_{side}_ueV"])
        np.testing.assert_allclose(ev[6:] / ev[:6], 2.0, rtol=0.03)


def test_statistics_are_those_of_the_stored_values(config, reference):
    _, res = reference
    s = ensemble_statistics(res, config)
    assert s["done"] == 12 and len(s["combinations"]) == 2
    for c, entry in enumerate(s["combinations"]):
        ev = np.concatenate(
            [
                np.asarray(res["valley_splitting_L_ueV"])[6 * c : 6 * c + 6],
                np.asarray(res["valley_splitting_R_ueV"])[6 * c : 6 * c + 6],
            ]
        )
        st = entry["valley_splitting_ueV"]
        assert st["count"] == 12
        assert st["median"] == pytest.approx(np.median(ev))
        assert st["iqr"] == pytest.approx(np.subtract(*np.percentile(ev, [75, 25])))
        assert st["fraction_below_threshold"] == pytest.approx(np.mean(ev < 50.0))
    # (the summary file holds the same)
    assert res["summary"]["combinations"][1]["valley_splitting_ueV"]["median"] == pytest.approx(
        s["combinations"][1]["valley_splitting_ueV"]["median"]
    )


def test_interrupted_run_resumes_to_the_same_numbers(config, reference, tmp_path):
    _, res = reference

    class Stop(Exception):
        pass

    def stop(indices):
        raise Stop

    with pytest.raises(Stop):
        run_ensemble(config, out_dir=tmp_path, progress=False, on_task=stop)
    assert read_ensemble(tmp_path / "ensemble.h5")["done"].tolist() == [1, 1] + [0] * 10
    with pytest.raises(ValueError, match="already exists"):
        run_ensemble(config, out_dir=tmp_path, progress=False)
    seen = []
    again = run_ensemble(config, out_dir=tmp_path, progress=False, resume=True, on_task=seen.extend)
    assert sorted(seen) == list(range(2, 12))  # nothing finished is computed again
    _same(again, res)
    other = dataclasses.replace(config, ensemble=dataclasses.replace(config.ensemble, seed_start=4))
    with pytest.raises(ValueError, match="different ensemble configuration"):
        run_ensemble(other, out_dir=tmp_path, progress=False, resume=True)


def test_dask_cluster_gives_the_same_numbers_and_survives_a_killed_worker(
    config, reference, tmp_path
):
    distributed = pytest.importorskip("distributed")
    _, res = reference
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_cluster = dataclasses.replace(
            config,
            execution=dataclasses.replace(config.execution, scheduler=cluster.scheduler_address),
        )
        # number for number on the cluster
        out = run_ensemble(on_cluster, out_dir=tmp_path / "dask", progress=False)
        _same(out, res)
        assert len({w for w in out["worker"]}) == 2  # both workers took part

        # a worker killed after the first stored task loses only its realisations: the
        # scheduler runs them again and the ensemble ends complete and identical
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one(indices):
            if not killed:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        out = run_ensemble(
            on_cluster, out_dir=tmp_path / "killed", progress=False, on_task=kill_one
        )
        assert killed and np.all(out["done"] == 1)
        _same(out, res)


def test_command_line_runs_an_ensemble(tmp_path, capsys):
    path = tmp_path / "ens.toml"
    path.write_text(
        EnsembleConfig.from_dict(
            {**ENSEMBLE, "ensemble": {**ENSEMBLE["ensemble"], "seeds": 2, "parameters": {}}}
        ).to_toml()
    )
    assert main(["run", str(path), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "ensemble written to" in text and "valley splitting (both dots) median" in text
    assert (tmp_path / "ens" / "ensemble_summary.json").exists()
    # --workers 2: a LocalCluster of two processes started by femvalley, same numbers
    pytest.importorskip("distributed")
    two = tmp_path / "two"
    assert main(["run", str(path), "--quiet", "--workers", "2", "--out", str(two)]) == 0
    assert "2 local process(es)" in capsys.readouterr().out
    _same(read_ensemble(two / "ensemble.h5"), read_ensemble(tmp_path / "ens" / "ensemble.h5"))
    # a bad scheduler address is an input error naming the field
    assert main(["run", str(path), "--quiet", "--scheduler", "nowhere", "--out", "x"]) == 2
    assert "execution.scheduler" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"seeds": 0}, "ensemble.seeds"),
        ({"seeds": [1, 1]}, "repeats a seed"),
        ({"parameters": {"solver.n_states": [2, 4]}}, "cannot vary"),
        ({"parameters": {"valley_map.seed": [1, 2]}}, "cannot vary"),
        ({"parameters": {"nonsense.key": [1]}}, "not a study field"),
        ({"parameters": {"valley_map.lx_nm": [-1.0]}}, "lx_nm"),
        ({"parameters": {"biases_V.B5": 1.2}}, "non-empty list"),
        (
            {"combine": "zip", "parameters": {"biases_V.B5": [1.2], "biases_V.B4": [1, 2]}},
            "one length",
        ),
        ({"threshold_ueV": -5}, "threshold_ueV"),
        ({"unknown": 1}, "unknown key"),
    ],
)
def test_bad_ensembles_name_the_field(change, match):
    data = {**ENSEMBLE, "ensemble": {"seeds": 2, **change}}
    with pytest.raises(ValueError, match=match):
        EnsembleConfig.from_dict(data)


def test_bad_execution_names_the_field():
    with pytest.raises(ValueError, match="execution.workers"):
        EnsembleConfig.from_dict({**ENSEMBLE, "execution": {"workers": 0}})
    with pytest.raises(ValueError, match="execution.scheduler"):
        EnsembleConfig.from_dict({**ENSEMBLE, "execution": {"scheduler": "localhost"}})
    cfg = EnsembleConfig.from_dict(ENSEMBLE)
    # the resolved TOML (dotted parameter paths quoted) reloads to the same ensemble
    again = EnsembleConfig.from_dict(_reload(cfg.to_toml()))
    assert again.to_toml() == cfg.to_toml() and again.identity() == cfg.identity()
    assert again.realisations() == cfg.realisations()


def _reload(text):
    import tomllib

    return tomllib.loads(text)


def test_example_ensemble_file_is_valid():
    from pathlib import Path

    cfg = EnsembleConfig.from_toml(Path(__file__).parents[1] / "examples" / "ensemble.toml")
    assert len(cfg.realisations()) == 200
    assert cfg.point_config(150).valley_map.mean_valley_splitting_ueV == 200.0


def test_an_ensemble_may_vary_a_text_field(tmp_path):
    cfg = EnsembleConfig.from_dict(
        {
            **ENSEMBLE,
            "ensemble": {
                "seeds": 1,
                "parameters": {"valley_map.sampler": ["kronecker", "qtcad"]},
            },
        }
    )
    res = run_ensemble(cfg, out_dir=tmp_path, progress=False)
    stored = read_ensemble(tmp_path / "ensemble.h5")
    assert stored["parameters"]["valley_map.sampler"].tolist() == ["kronecker", "qtcad"]
    assert np.all(stored["done"] == 1)
    # the two samplers draw different maps: different valley splittings
    assert res["valley_splitting_L_ueV"][0] != res["valley_splitting_L_ueV"][1]
