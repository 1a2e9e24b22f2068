"""The matrix: frozen variant specs, their axes, parsing at the boundary and expansion with exclusions."""

from trtbench.matrix.spec import BUILD_MODES, PRECISIONS, Matrix, ShapeProfile, Variant
from trtbench.matrix.expand import Exclusion, expand

__all__ = ["BUILD_MODES", "PRECISIONS", "Matrix", "ShapeProfile", "Variant", "Exclusion", "expand"]
