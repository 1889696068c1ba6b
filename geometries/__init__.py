"""Parametric device geometries (gmsh). The only package that imports gmsh (DESIGN.md)."""
