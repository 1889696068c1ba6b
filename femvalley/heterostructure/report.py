"""Valley splitting of a heterostructure: every model, the disorder statistics, files.

:func:`valley_splitting_report` is what ``femvalley valley-splitting PROFILE.toml`` runs:

- without disorder: the local 2k0 model (single coefficient and Tab. II), its ambiguity
  ``2 |R|`` (meV per meV of shift), the filtered model, the first-order and the two-band
  splitting of the mean profile on monolayers;
- with alloy disorder: the ensemble of ``realisations`` (method of the file), its median,
  quartiles, mean, the fraction below 50 ueV and 100 ueV, the Rician law expected from
  ref. 3 eq. 28 and the measured ``E|J|^2``;
- files in ``out_dir``: ``valley_splitting.json``, ``valley_splitting.png`` (histogram with
  the Rician density), ``valley_splitting_ueV.npy`` (every realisation) and ``profile.toml``
  (the resolved input), each written atomically.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from femvalley.heterostructure.alloy import (
    expected_coupling_moments,
    rician_parameters,
    valley_splitting_ensemble,
)
from femvalley.heterostructure.config import HeterostructureConfig
from femvalley.heterostructure.twoband import first_order_coupling_meV, solve_two_band_1d
from femvalley.heterostructure.valley import (
    ambiguity_measure,
    bloch_coefficients,
    filtered_valley_coupling_meV,
    local_valley_coupling_meV,
)
from femvalley.heterostructure.vertical import solve_vertical
from femvalley.io.atomic import atomic_path, write_text
from femvalley.records import JsonRecord

__all__ = ["ValleySplittingReport", "deterministic_splittings_ueV", "valley_splitting_report"]


def deterministic_splittings_ueV(config: HeterostructureConfig) -> dict[str, float]:
    """Valley splittings of the mean profile (no disorder), in ueV, by every model.

    The 2k0 models use the intra-valley potential ``U = dEc X - F z`` (ref. 2); the
    monolayer models use ``V_inter = V_Ge X`` (ref. 3). Their scales differ (``|A| dEc``
    = 139 meV against ``V_Ge`` = 514 meV per unit Ge): both are reported, not mixed.
    """
    profile = config.build_profile()
    grid = config.grid()
    half = grid.n_monolayers * grid.step_nm / 2
    st = solve_vertical(
        profile,
        field_MV_per_m=config.field_MV_per_m,
        hbar_omega_meV=config.hbar_omega_meV,
        z_range_nm=_commensurate_window(grid.centre_nm, half),
    )
    args = (st.z_nm, st.potential_meV, st.envelope)
    tab = bloch_coefficients()
    model = config.dot_model()
    j1 = first_order_coupling_meV(
        model.vertical_density(), config.v_inter_ge_meV * model.mean_fraction(), grid=grid
    )
    two = solve_two_band_1d(
        profile,
        field_MV_per_m=config.field_MV_per_m,
        grid=grid,
        v_inter_ge_meV=config.v_inter_ge_meV,
    )
    return {
        "local_A_ueV": 2e3 * abs(local_valley_coupling_meV(*args)),
        "local_Cn_ueV": 2e3 * abs(local_valley_coupling_meV(*args, coefficients=tab)),
        "filtered_A_ueV": 2e3 * abs(filtered_valley_coupling_meV(*args)),
        "filtered_Cn_ueV": 2e3 * abs(filtered_valley_coupling_meV(*args, coefficients=tab)),
        "ambiguity_2R_ueV_per_meV": 2e3 * abs(ambiguity_measure(st.z_nm, st.envelope)),
        "first_order_monolayer_ueV": 2e3 * abs(j1),
        "two_band_ueV": 1e3 * two.valley_splitting_meV,
    }


def _commensurate_window(centre: float, half_min: float) -> tuple[float, float]:
    from femvalley.heterostructure.valley import commensurate_length_nm

    half = commensurate_length_nm(2 * max(half_min, 20.0)) / 2
    return (centre - half, centre + half)


@dataclass(frozen=True, kw_only=True, eq=False)
class ValleySplittingReport(JsonRecord):
    """What :func:`valley_splitting_report` computes (``valley_splitting.json``), typed.

    As a mapping it is exactly the JSON object of the file
    (:class:`femvalley.records.JsonRecord`).
    """

    #: the mean profile's splitting by every model (:func:`deterministic_splittings_ueV`)
    deterministic_ueV: Mapping[str, float]
    #: the alloy-disorder ensemble: statistics in ueV, fractions below 50 and 100 ueV, the
    #: Rician law, the measured and expected E|J|^2, the method and seed
    disorder: Mapping[str, Any]
    #: seconds: ``deterministic``, ``ensemble``
    timings_s: Mapping[str, float]
    #: the resolved profile configuration
    config: Mapping[str, Any]
    #: figures written (relative to the output directory)
    figures: Sequence[str] | None = None


def valley_splitting_report(
    config: HeterostructureConfig, *, out_dir: str | Path | None = None, figures: bool = True
) -> ValleySplittingReport:
    """Compute every model and the disorder ensemble of ``config``; write files to ``out_dir``.

    Returns the report (also ``valley_splitting.json``): ``deterministic_ueV``, ``disorder``
    (statistics in ueV) and ``timings_s``.
    """
    from femvalley.io.toml import dump_toml

    t0 = time.perf_counter()
    det = deterministic_splittings_ueV(config)
    t1 = time.perf_counter()
    model = config.dot_model()
    ens = valley_splitting_ensemble(
        model,
        realisations=config.realisations,
        seed=config.seed,
        method=config.method,  # type: ignore[arg-type]
    )
    t2 = time.perf_counter()
    mean, var = expected_coupling_moments(model)
    nu, sigma = rician_parameters(mean, var)
    ev_ueV = 1e3 * ens.valley_splitting_meV
    stats: dict[str, Any] = dict(ens.statistics_ueV())
    stats.update(
        {
            "fraction_below_50_ueV": float(np.mean(ev_ueV < 50.0)),
            "fraction_below_100_ueV": float(np.mean(ev_ueV < 100.0)),
            "rician_nu_ueV": 1e3 * nu,
            "rician_sigma_ueV": 1e3 * sigma,
            "mean_J2_measured_meV2": float(np.mean(np.abs(ens.coupling_meV) ** 2)),
            "mean_J2_expected_meV2": float(abs(mean) ** 2 + var),
            "method": config.method,
            "seed": config.seed,
        }
    )
    written: list[str] | None = None
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "profile.toml", dump_toml(config.to_dict()))
        with atomic_path(out / "valley_splitting_ueV.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, ev_ueV)
        if figures:
            from femvalley.plot import plot_valley_splitting_histogram

            written = [
                str(
                    plot_valley_splitting_histogram(
                        ev_ueV,
                        out / "valley_splitting.png",
                        rician_ueV=(1e3 * nu, 1e3 * sigma),
                        title=(
                            f"{config.realisations} alloy realisations ({config.method}), "
                            f"F = {config.field_MV_per_m:g} MV/m"
                        ),
                    ).name
                )
            ]
    report = ValleySplittingReport(
        deterministic_ueV=det,
        disorder=stats,
        timings_s={"deterministic": t1 - t0, "ensemble": t2 - t1},
        config=config.to_dict(),
        figures=written,
    )
    if out_dir is not None:
        report.write(Path(out_dir) / "valley_splitting.json")
    return report
