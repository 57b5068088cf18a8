"""CPU kernel of the engine: one sample's state stays in cache while every step is applied.

Why hand-written: on CPU, torch applies a per-sample 2×2 gate as generic broadcast passes that
reach about 1 G amplitude-updates/s per core; this loop (numba-compiled, planar float arrays,
one sample per thread at a time) reaches about 6 G.  Gates whose wire sits in the last bits of
the index have short contiguous runs, which do not vectorise; the layout compiler therefore
inserts *rotations* (a transpose of the state viewed as a 2^(n−k)×2^k matrix) that move those
wires to the front, and the diagonals and permutations are precomputed for whichever layout is
current.  Validated against the torch path and the dense oracle in ``tests/test_engine.py``.

Program rows (kind, a, b):  0 = single-qubit gate on physical wire a with coefficient column b;
1 = multiply by diagonal row a;  2 = gather by permutation row a;  3 = rotate the layout by a.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

GATE, DIAG, PERM, ROTATE = 0, 1, 2, 3


@njit(fastmath=True, cache=True)
def _pairs(xr, xi, yr, yi, c):
    ar, ai, br, bi, cr, ci, dr, di = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    for r in range(xr.shape[0]):
        x_r = xr[r]
        x_i = xi[r]
        y_r = yr[r]
        y_i = yi[r]
        xr[r] = ar * x_r - ai * x_i + br * y_r - bi * y_i
        xi[r] = ar * x_i + ai * x_r + br * y_i + bi * y_r
        yr[r] = cr * x_r - ci * x_i + dr * y_r - di * y_i
        yi[r] = cr * x_i + ci * x_r + dr * y_i + di * y_r


@njit(fastmath=True, cache=True)
def _pairs_real(xr, xi, yr, yi, c):
    ar, br, cr, dr = c[0], c[2], c[4], c[6]
    for r in range(xr.shape[0]):
        x_r = xr[r]
        x_i = xi[r]
        y_r = yr[r]
        y_i = yi[r]
        xr[r] = ar * x_r + br * y_r
        xi[r] = ar * x_i + br * y_i
        yr[r] = cr * x_r + dr * y_r
        yi[r] = cr * x_i + dr * y_i


@njit(fastmath=True, cache=True)
def _pairs_diagonal(xr, xi, yr, yi, c):
    ar, ai, dr, di = c[0], c[1], c[6], c[7]
    for r in range(xr.shape[0]):
        x_r = xr[r]
        y_r = yr[r]
        xr[r] = ar * x_r - ai * xi[r]
        xi[r] = ar * xi[r] + ai * x_r
        yr[r] = dr * y_r - di * yi[r]
        yi[r] = dr * yi[r] + di * y_r


@njit(fastmath=True, cache=True)
def _pairs_antidiagonal_imag(xr, xi, yr, yi, c):
    ar, bi, ci, dr = c[0], c[3], c[5], c[6]
    for r in range(xr.shape[0]):
        x_r = xr[r]
        x_i = xi[r]
        y_r = yr[r]
        y_i = yi[r]
        xr[r] = ar * x_r - bi * y_i
        xi[r] = ar * x_i + bi * y_r
        yr[r] = dr * y_r - ci * x_i
        yi[r] = dr * y_i + ci * x_r


@njit(fastmath=True, cache=True)
def _kind(c):
    """0 general, 1 real (RY), 2 diagonal (RZ), 3 real diagonal + imaginary off-diagonal (RX)."""
    if c[2] == 0 and c[3] == 0 and c[4] == 0 and c[5] == 0:
        return 2
    if c[1] == 0 and c[3] == 0 and c[5] == 0 and c[7] == 0:
        return 1
    if c[1] == 0 and c[2] == 0 and c[4] == 0 and c[7] == 0:
        return 3
    return 0


@njit(fastmath=True, cache=True)
def apply_gate(re, im, c, w, n):
    half = 1 << (n - w - 1)
    if half >= 8:
        # one sample's gate: take the cheapest loop its matrix allows (RY real, RZ diagonal)
        kind = _kind(c)
        for start in range(0, re.shape[0], 2 * half):
            mid = start + half
            if kind == 1:
                _pairs_real(re[start:mid], im[start:mid], re[mid : mid + half], im[mid : mid + half], c)
            elif kind == 2:
                _pairs_diagonal(re[start:mid], im[start:mid], re[mid : mid + half], im[mid : mid + half], c)
            elif kind == 3:
                _pairs_antidiagonal_imag(re[start:mid], im[start:mid], re[mid : mid + half], im[mid : mid + half], c)
            else:
                _pairs(re[start:mid], im[start:mid], re[mid : mid + half], im[mid : mid + half], c)
    else:
        vr = re.reshape(-1, 2 * half)
        vi = im.reshape(-1, 2 * half)
        for r in range(half):
            _pairs(vr[:, r], vi[:, r], vr[:, half + r], vi[:, half + r], c)


TILE = 16


@njit(fastmath=True, cache=True)
def _transpose(src, dst, rows, cols):
    """dst (cols × rows) = srcᵀ for src viewed as rows × cols, in 16×16 tiles."""
    if rows < TILE or cols < TILE:
        for a in range(rows):
            for b in range(cols):
                dst[b * rows + a] = src[a * cols + b]
        return
    for a0 in range(0, rows, TILE):
        for b0 in range(0, cols, TILE):
            for a in range(a0, a0 + TILE):
                for b in range(b0, b0 + TILE):
                    dst[b * rows + a] = src[a * cols + b]


@njit(fastmath=True, cache=True)
def _scale(r, i, d):
    for x in range(r.shape[0]):
        r[x] *= d[x]
        i[x] *= d[x]


@njit(fastmath=True, cache=True)
def _gather(r, i, tr, ti, p):
    for x in range(r.shape[0]):
        tr[x] = r[p[x]]
        ti[x] = i[p[x]]


@njit(parallel=True, fastmath=True, cache=True)
def evolve(re, im, coef, prog, diags, perms, n):
    """Apply program ``prog`` to every row of (re, im) in place; ``coef`` is (B, n_gates, 8)."""
    for s in prange(re.shape[0]):
        r = re[s]
        i = im[s]
        tr = np.empty_like(r)
        ti = np.empty_like(i)
        for row in range(prog.shape[0]):
            kind = prog[row, 0]
            a = prog[row, 1]
            if kind == 0:
                apply_gate(r, i, coef[s, prog[row, 2]], a, n)
            elif kind == 1:
                _scale(r, i, diags[a])
            elif kind == 2:
                _gather(r, i, tr, ti, perms[a])
                r, tr = tr, r
                i, ti = ti, i
            else:
                _transpose(r, tr, 1 << (n - a), 1 << a)
                _transpose(i, ti, 1 << (n - a), 1 << a)
                r, tr = tr, r
                i, ti = ti, i
        if r.ctypes.data != re[s].ctypes.data:
            re[s, :] = r
            im[s, :] = i


LANES = 64
"""Samples per block in :func:`evolve_lanes` (the vector dimension)."""


@njit(fastmath=True, cache=True)
def _gate_lanes(r, i, coef, w, n):
    half = 1 << (n - w - 1)
    lanes = r.shape[1]
    for start in range(0, r.shape[0], 2 * half):
        for j in range(start, start + half):
            k = j + half
            for s in range(lanes):
                x_r = r[j, s]
                x_i = i[j, s]
                y_r = r[k, s]
                y_i = i[k, s]
                r[j, s] = coef[0, s] * x_r - coef[1, s] * x_i + coef[2, s] * y_r - coef[3, s] * y_i
                i[j, s] = coef[0, s] * x_i + coef[1, s] * x_r + coef[2, s] * y_i + coef[3, s] * y_r
                r[k, s] = coef[4, s] * x_r - coef[5, s] * x_i + coef[6, s] * y_r - coef[7, s] * y_i
                i[k, s] = coef[4, s] * x_i + coef[5, s] * x_r + coef[6, s] * y_i + coef[7, s] * y_r


@njit(parallel=True, fastmath=True, cache=True)
def evolve_lanes(re, im, coef, prog, diags, perms, n):
    """Small-n variant: states are columns of (re, im) shaped (2^n, B), coefficients (g, 8, B);
    every operation is vectorised across LANES samples at a time.  Programs have no rotations."""
    total = re.shape[1]
    for block in prange((total + LANES - 1) // LANES):
        s0 = block * LANES
        s1 = min(total, s0 + LANES)
        r = np.ascontiguousarray(re[:, s0:s1])
        i = np.ascontiguousarray(im[:, s0:s1])
        tr = np.empty_like(r)
        ti = np.empty_like(i)
        for row in range(prog.shape[0]):
            kind = prog[row, 0]
            a = prog[row, 1]
            if kind == 0:
                _gate_lanes(r, i, np.ascontiguousarray(coef[prog[row, 2], :, s0:s1]), a, n)
            elif kind == 1:
                _scale(r, i, diags[a])
            else:
                _gather(r, i, tr, ti, perms[a])
                r, tr = tr, r
                i, ti = ti, i
        re[:, s0:s1] = r
        im[:, s0:s1] = i
