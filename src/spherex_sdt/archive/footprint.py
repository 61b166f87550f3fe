"""Sky footprints given as IVOA ``s_region`` polygons: containment and overlap tests.

Tests are done on the tangent plane at the query position, exact for the great-circle edges of a polygon
(gnomonic projection maps great circles to straight lines).
"""

import numpy as np

from ..errors import InvalidInputError

__all__ = ["parse_polygon", "region_contains", "region_overlaps_circle"]


def parse_polygon(s_region):
    """Vertices (deg) of ``POLYGON [ICRS] ra1 dec1 ra2 dec2 ...``; a repeated closing vertex is dropped."""
    parts = str(s_region).split()
    if not parts or parts[0].upper() != "POLYGON":
        raise InvalidInputError(f"s_region is not a POLYGON: {str(s_region)[:60]!r}")
    nums = [p for p in parts[1:] if p.upper() not in ("ICRS", "J2000", "FK5", "UNKNOWNFRAME")]
    try:
        values = np.array([float(p) for p in nums])
    except ValueError:
        raise InvalidInputError(f"s_region has a non-numeric vertex: {str(s_region)[:60]!r}") from None
    if values.size < 6 or values.size % 2:
        raise InvalidInputError(f"s_region needs at least three (ra, dec) vertices: {str(s_region)[:60]!r}")
    verts = values.reshape(-1, 2)
    if np.allclose(verts[0], verts[-1]):
        verts = verts[:-1]
    return verts


def _gnomonic(verts, ra, dec):
    """Tangent-plane coordinates (deg) of vertices about (ra, dec); NaN for vertices on the far hemisphere."""
    a0, d0 = np.radians(ra), np.radians(dec)
    a, d = np.radians(verts[:, 0]), np.radians(verts[:, 1])
    cosc = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    xi = np.cos(d) * np.sin(a - a0) / cosc
    eta = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cosc
    out = np.degrees(np.stack([xi, eta], axis=1))
    out[cosc <= 0] = np.nan
    return out


def _inside_and_distance(s_region, ra, dec):
    xy = _gnomonic(parse_polygon(s_region), ra, dec)
    if not np.all(np.isfinite(xy)):
        return False, np.inf
    x, y = xy[:, 0], xy[:, 1]
    x2, y2 = np.roll(x, -1), np.roll(y, -1)
    # ray casting from the origin along +x
    crosses = ((y > 0) != (y2 > 0)) & (x + (0 - y) * (x2 - x) / np.where(y2 != y, y2 - y, np.inf) > 0)
    inside = bool(np.count_nonzero(crosses) % 2)
    # distance from the origin to each edge segment
    dx, dy = x2 - x, y2 - y
    t = np.clip(-(x * dx + y * dy) / np.maximum(dx * dx + dy * dy, 1e-30), 0, 1)
    dist = np.hypot(x + t * dx, y + t * dy).min()
    return inside, float(dist)


def region_contains(s_region, ra, dec, *, margin_deg=0.0):
    """True if (ra, dec) lies inside the polygon and at least ``margin_deg`` from its edges."""
    inside, dist = _inside_and_distance(s_region, ra, dec)
    return inside and dist >= margin_deg


def region_overlaps_circle(s_region, ra, dec, radius_deg):
    """True if the polygon and the circle of ``radius_deg`` around (ra, dec) overlap (SIA ``POS=CIRCLE``)."""
    inside, dist = _inside_and_distance(s_region, ra, dec)
    return inside or dist <= radius_deg
