"""Angle units: arcmin and degrees to radians against their definitions and astropy."""

import astropy.units as u
import numpy as np
import pytest

from miu2net.physics.units import ARCMIN_TO_RAD, DEG_TO_RAD


def test_a_degree_is_pi_over_180_radians_and_60_arcmin():
    assert 180 * DEG_TO_RAD == pytest.approx(np.pi, rel=1e-15)
    assert 60 * ARCMIN_TO_RAD == pytest.approx(DEG_TO_RAD, rel=1e-15)
    assert 360 * 60 * ARCMIN_TO_RAD == pytest.approx(2 * np.pi, rel=1e-15)


def test_against_astropy():
    assert ARCMIN_TO_RAD == pytest.approx((1 * u.arcmin).to_value(u.rad), rel=1e-15)
    assert DEG_TO_RAD == pytest.approx((1 * u.deg).to_value(u.rad), rel=1e-15)
    assert ARCMIN_TO_RAD == pytest.approx(2.908882086657216e-4, rel=1e-15)


def test_round_trips_of_map_sizes():
    pixel_arcmin, n = 0.41, 256
    side_rad = n * pixel_arcmin * ARCMIN_TO_RAD
    assert side_rad / DEG_TO_RAD == pytest.approx(n * pixel_arcmin / 60, rel=1e-14)  # 1.749 deg: the csst field
    assert np.rad2deg(side_rad) * 60 / n == pytest.approx(pixel_arcmin, rel=1e-14)
