"""Unit constants of the package (angles). Angles cross the API in arcmin or degrees, named in the argument."""

from __future__ import annotations

import numpy as np

#: Radians per arcminute.
ARCMIN_TO_RAD = np.pi / (180.0 * 60.0)
#: Radians per degree.
DEG_TO_RAD = np.pi / 180.0
