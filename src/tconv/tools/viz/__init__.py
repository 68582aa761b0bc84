"""Pictures that teach: scatter/gather animations, the matrices, the overlap map.

The drawing *models* (:mod:`tconv.tools.viz.model`) are plain data computed by the library; the renderers
(:mod:`tconv.tools.viz.render`) only draw them. :func:`animate`, :func:`matrix` and :func:`overlap` return
objects that show inline in Jupyter and have ``.save(path)``.
"""

from .model import GatherModel, ScatterModel, gather_model, overlap_map, scatter_model
from .pictures import Animation, MatrixPicture, OverlapPicture, animate, matrix, overlap

__all__ = ["Animation", "GatherModel", "MatrixPicture", "OverlapPicture", "ScatterModel", "animate",
           "gather_model", "matrix", "overlap", "overlap_map", "scatter_model"]
