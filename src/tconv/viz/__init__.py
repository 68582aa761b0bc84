"""Pictures that teach: scatter/gather animations, the matrices, the overlap map.

The drawing *models* (:mod:`tconv.viz.model`) are plain data computed by the library;
the renderers (:mod:`tconv.viz.render`) only draw them.
"""

from .model import GatherModel, ScatterModel, gather_model, overlap_map, scatter_model

__all__ = ["GatherModel", "ScatterModel", "gather_model", "overlap_map", "scatter_model"]
