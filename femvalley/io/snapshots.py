"""The snapshot checkpoint of a certified reduced basis (``snapshots.h5``).

A reduced basis is built from a few full solves (snapshots, :mod:`femvalley.rb`). Each
is checkpointed as soon as it is computed, so a resumed study or ensemble group rebuilds the
same basis without solving again.

Layout (HDF5): root attribute ``config_sha256`` (the identity of the configuration the
snapshots belong to; another configuration's file is ignored and overwritten); one group
``snapshot_NNN`` per snapshot, in the order they were computed, with attributes
``detuning_mV`` and ``kind`` (``"orbital"``: real single-valley orbitals;
``"two_valley"``: complex two-valley states) and datasets ``energies_meV`` (k,), ``vectors``
(ndof, k) and, for orbital snapshots, ``residual_meV`` (k,).

The file is rewritten whole (atomically) for every new snapshot: a basis has a handful.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from femvalley.io.atomic import atomic_path
from femvalley.io.hdf5 import read_store
from femvalley.rb import OrbitalSnapshot, Snapshot

__all__ = ["SNAPSHOTS_NAME", "read_snapshots", "write_snapshots"]

#: file name of the checkpoint inside a study directory
SNAPSHOTS_NAME = "snapshots.h5"


def write_snapshots(
    path: str | Path, identity: str, snapshots: Sequence[Snapshot | OrbitalSnapshot]
) -> None:
    """Write all ``snapshots`` of the configuration ``identity`` (atomically)."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["config_sha256"] = identity
        for j, s in enumerate(snapshots):
            g = f.create_group(f"snapshot_{j:03d}")
            g.attrs["detuning_mV"] = s.scales["detuning"]
            g.attrs["kind"] = "orbital" if isinstance(s, OrbitalSnapshot) else "two_valley"
            g.create_dataset("energies_meV", data=s.energies_meV)
            g.create_dataset("vectors", data=s.vectors)
            if isinstance(s, OrbitalSnapshot):
                g.create_dataset("residual_meV", data=s.residual_meV)


def read_snapshots(path: str | Path, identity: str) -> list[Snapshot | OrbitalSnapshot]:
    """Return the snapshots stored for ``identity`` (an empty list for another one).

    A damaged file raises :class:`femvalley.io.hdf5.CorruptStoreError`.
    """
    with read_store(path, "snapshot checkpoint") as f:
        if f.attrs.get("config_sha256") != identity:
            return []  # another configuration's snapshots: not used (and overwritten)
        out: list[Snapshot | OrbitalSnapshot] = []
        for _, g in sorted(f.items()):
            scales = {"detuning": float(g.attrs["detuning_mV"])}
            if g.attrs.get("kind", "two_valley") == "orbital":
                out.append(
                    OrbitalSnapshot(
                        scales=scales,
                        energies_meV=g["energies_meV"][()],
                        vectors=g["vectors"][()],
                        residual_meV=g["residual_meV"][()],
                    )
                )
            else:
                out.append(
                    Snapshot(
                        scales=scales,
                        energies_meV=g["energies_meV"][()],
                        vectors=g["vectors"][()],
                    )
                )
        return out
