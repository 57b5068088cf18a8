"""CPU kernel of the engine: one sample's state stays in cache while every step is applied.

Why hand-written: on CPU, torch applies a per-sample 2×2 gate as generic broadcast passes that
reach about 1 G amplitude-updates/s per core; this loop (numba-compiled, planar float arrays,
one sample per thread at a time) reaches about 6 G.  Gates whose wire sits in the last bits of
the index have short contiguous runs, which do not vectorise; the layout compiler therefore
inserts *rotations* (a transpose of the state viewed as a 2^(n−k)×2^k matrix) that move those
wires to the front, and the diagonals and permutations are precomputed for whichever layout is
current.  Validated against the torch path and the dense oracle in ``tests/test_engine.py``.

Program rows (kind, a, b):  0 = single-qubit gate on physical wire a with coefficient column b;
1 = CZ signs of descriptor a (its (shift, mask) terms and block table);  2 = CNOT permutation by byte
table a (b is its inverse's table);  3 = rotate the layout by a;  4 = phases of up to three
Z-string rotations (descriptor a: count, then each term's bit mask) from the per-sample table of
eight phases in coefficient columns b, b + 1.  Signs, phases and permutation indices
are computed from the index bits as they are applied (:mod:`qnnscope.sim.layout`), so a program
holds no array over the basis states.

All-parameter gradients (:func:`adjoint_sweep`): after the forward pass and λ = Oψ, the inverted
program undoes every fused step on ψ and λ in place, and a step holding trainable factors first
collects, in the same pass, the four moments Σ λ̄_a ψ_b of its wire, from which every factor's
∂C/∂φ = Im⟨λ|G|ψ⟩ follows (G = the factor's generator moved to the step's output).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

GATE, DIAG, PERM, ROTATE, PHASE = 0, 1, 2, 3, 4


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
def _pairs_of_kind(xr, xi, yr, yi, c, kind):
    if kind == 1:
        _pairs_real(xr, xi, yr, yi, c)
    elif kind == 2:
        _pairs_diagonal(xr, xi, yr, yi, c)
    elif kind == 3:
        _pairs_antidiagonal_imag(xr, xi, yr, yi, c)
    else:
        _pairs(xr, xi, yr, yi, c)


@njit(fastmath=True, cache=True)
def apply_gate(re, im, c, w, n):
    half = 1 << (n - w - 1)
    if half >= 8:
        # one sample's gate: take the cheapest loop its matrix allows (RY real, RZ diagonal)
        kind = _kind(c)
        for start in range(0, re.shape[0], 2 * half):
            mid = start + half
            _pairs_of_kind(re[start:mid], im[start:mid], re[mid : mid + half], im[mid : mid + half], c, kind)
    else:
        vr = re.reshape(-1, 2 * half)
        vi = im.reshape(-1, 2 * half)
        for r in range(half):
            _pairs(vr[:, r], vi[:, r], vr[:, half + r], vi[:, half + r], c)


TRANSPOSE_TILE = 8
"""Rows per transpose tile: its reads sit a power-of-two stride apart and share one cache set,
so more than the L1's 8 ways would evict each other (measured at n = 20: 16 → 1.8 ms, 8 → 1.4 ms
per 4 MB array, the earlier read-contiguous 16×16 tiles 3.1 ms)."""


@njit(fastmath=True, cache=True)
def _transpose(src, dst, rows, cols):
    """dst (cols × rows) = srcᵀ for src viewed as rows × cols, in tiles written contiguously."""
    if rows < TRANSPOSE_TILE or cols < TRANSPOSE_TILE:
        for a in range(rows):
            for b in range(cols):
                dst[b * rows + a] = src[a * cols + b]
        return
    for a0 in range(0, rows, TRANSPOSE_TILE):
        for b0 in range(0, cols, TRANSPOSE_TILE):
            for b in range(b0, b0 + TRANSPOSE_TILE):
                out = b * rows
                for a in range(a0, a0 + TRANSPOSE_TILE):
                    dst[out + a] = src[a * cols + b]


BLOCK = 1024
"""Basis states per block of the CZ-sign evaluation: the low bits' sign pattern is tabulated
once per row, and every block multiplies by one table row times its high bits' sign."""
CROSS_MAX = 5
"""High bits paired with low bits (by CZs straddling the block boundary) that the tables cover,
one table row per assignment; beyond, each sign is evaluated from the index alone."""


@njit(fastmath=True, cache=True)
def _parity(v):
    v ^= v >> 16
    v ^= v >> 8
    v ^= v >> 4
    v ^= v >> 2
    v ^= v >> 1
    return v & 1


@njit(fastmath=True, cache=True)
def _scale(r, i, d, factor):
    """(r, i) *= factor · d, elementwise (slices passed in: the loop vectorises)."""
    for j in range(r.shape[0]):
        s = factor * d[j]
        r[j] *= s
        i[j] *= s


@njit(fastmath=True, cache=True)
def sign_table(terms, start, count, size):
    """The block table of a CZ row (``count`` terms from ``start``) over blocks of ``size``
    states: with x = high | low, sign(x) = sign(high) · T_v[low], v the bits of high that CZs
    pair with low bits (``positions``).  Returns (number of such bits, or −1 beyond CROSS_MAX,
    positions, table)."""
    cross = 0
    for t in range(start, start + count):
        d = terms[t, 0]
        low = terms[t, 1] & (size - 1)
        while low:
            bit = low & -low
            if bit << d >= size:
                cross |= bit << d
            low ^= bit
    positions = np.zeros(CROSS_MAX, dtype=np.int64)
    n_cross = 0
    while cross:
        bit = cross & -cross
        if n_cross == CROSS_MAX:
            return -1, positions, np.zeros(0)
        positions[n_cross] = bit
        n_cross += 1
        cross ^= bit
    table = np.empty((1 << n_cross) * size)
    for v in range(1 << n_cross):
        high = 0
        for k in range(n_cross):
            if (v >> k) & 1:
                high |= positions[k]
        own = _sign(high, terms, start, count)
        for j in range(size):
            table[v * size + j] = _sign(high | j, terms, start, count) * own
    return n_cross, positions, table


@njit(fastmath=True, cache=True)
def _cz_signs(r, i, terms, desc, dsign):
    """Multiply by (−1)^parity(⊕_t x ∧ (x ≫ d_t) ∧ m_t) over a CZ row's terms; ``desc`` =
    (first term, term count, table offset, cross bits or −1, their positions…) from
    :func:`sign_table`: per block of BLOCK states one table row times the block's own sign,
    else state by state."""
    start, count, offset, n_cross = desc[0], desc[1], desc[2], desc[3]
    dim = r.shape[0]
    if n_cross < 0:
        for x in range(dim):
            sign = _sign(x, terms, start, count)
            r[x] *= sign
            i[x] *= sign
        return
    size = min(BLOCK, dim)
    for b0 in range(0, dim, size):
        v = 0
        for k in range(n_cross):
            if b0 & desc[4 + k]:
                v |= 1 << k
        row = offset + v * size
        _scale(r[b0:b0 + size], i[b0:b0 + size], dsign[row:row + size], 1.0 * _sign(b0, terms, start, count))


@njit(fastmath=True, cache=True)
def _sign(x, terms, start, count):
    v = 0
    for t in range(start, start + count):
        v ^= x & (x >> terms[t, 0]) & terms[t, 1]
    return 1 - 2 * _parity(v)


@njit(fastmath=True, cache=True)
def _source(x, table):
    """perm(x) from the four byte tables."""
    return table[0, x & 255] ^ table[1, (x >> 8) & 255] ^ table[2, (x >> 16) & 255] ^ table[3, (x >> 24) & 255]


@njit(fastmath=True, cache=True)
def _permute(r, i, tr, ti, table):
    """(tr, ti)[x] = (r, i)[perm(x)]: the high bytes' part once per 256 states."""
    dim = r.shape[0]
    if dim < 256:
        for x in range(dim):
            p = table[0, x]
            tr[x] = r[p]
            ti[x] = i[p]
        return
    for hi in range(0, dim, 256):
        base = table[1, (hi >> 8) & 255] ^ table[2, (hi >> 16) & 255] ^ table[3, (hi >> 24) & 255]
        for lo in range(256):
            p = base ^ table[0, lo]
            tr[hi + lo] = r[p]
            ti[hi + lo] = i[p]


@njit(fastmath=True, cache=True)
def _phase_index(x, desc):
    """Which of the eight table phases basis state x takes: bit b = parity of x in term b's wires."""
    v = 0
    for b in range(desc[0]):
        v |= _parity(x & desc[1 + b]) << b
    return v


@njit(fastmath=True, cache=True)
def _phase(r, i, c, col, desc):
    """Multiply basis state x by phase ``table[v(x)]`` (:func:`_phase_index`), the table's eight
    complex entries in coefficient columns ``col``, ``col + 1`` (re, im interleaved)."""
    for x in range(r.shape[0]):
        v = _phase_index(x, desc)
        pr = c[col + (v >> 2), 2 * (v & 3)]
        pi = c[col + (v >> 2), 2 * (v & 3) + 1]
        x_r = r[x]
        r[x] = pr * x_r - pi * i[x]
        i[x] = pr * i[x] + pi * x_r


@njit(fastmath=True, cache=True)
def _phase_moment(r, i, lr, li, c, col, desc, out):
    """Add m_b = Σ_x λ̄_x z_b(x) ψ_x (z_b = ±1, the term's Z string) to ``out`` (re, im of term b
    at 2b, 2b + 1), then multiply ψ and λ by the table (``c`` holds the conjugate phases).  A
    diagonal step leaves λ̄_x ψ_x unchanged, so the moments of a step's terms can be taken at
    any of its rows."""
    m = np.zeros(6)
    for x in range(r.shape[0]):
        v = _phase_index(x, desc)
        qr = lr[x] * r[x] + li[x] * i[x]
        qi = lr[x] * i[x] - li[x] * r[x]
        for b in range(desc[0]):
            if (v >> b) & 1:
                m[2 * b] -= qr
                m[2 * b + 1] -= qi
            else:
                m[2 * b] += qr
                m[2 * b + 1] += qi
        pr = c[col + (v >> 2), 2 * (v & 3)]
        pi = c[col + (v >> 2), 2 * (v & 3) + 1]
        x_r = r[x]
        r[x] = pr * x_r - pi * i[x]
        i[x] = pr * i[x] + pi * x_r
        x_r = lr[x]
        lr[x] = pr * x_r - pi * li[x]
        li[x] = pr * li[x] + pi * x_r
    for b in range(2 * desc[0]):
        out[b] += m[b]


@njit(fastmath=True, cache=True)
def _fixed_row(r, i, fr, fi, kind, a, dterms, ddesc, dsign, ptables, n):
    """Apply a CZ, CNOT or ROTATE row to the state (r, i) with the free buffers (fr, fi); returns
    (state, free) — the permutation and the rotation write into the free pair."""
    if kind == 1:
        _cz_signs(r, i, dterms, ddesc[a], dsign)
        return r, i, fr, fi
    if kind == 2:
        _permute(r, i, fr, fi, ptables[a])
    else:
        _transpose(r, fr, 1 << (n - a), 1 << a)
        _transpose(i, fi, 1 << (n - a), 1 << a)
    return fr, fi, r, i


@njit(parallel=True, fastmath=True, cache=True)
def evolve(re, im, coef, prog, dterms, ddesc, dsign, ptables, n):
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
            elif kind == 4:
                _phase(r, i, coef[s], prog[row, 2], ddesc[a])
            else:
                r, i, tr, ti = _fixed_row(r, i, tr, ti, kind, a, dterms, ddesc, dsign, ptables, n)
        if r.ctypes.data != re[s].ctypes.data:
            re[s, :] = r
            im[s, :] = i


@njit(fastmath=True, cache=True)
def _moment_pairs(xr, xi, yr, yi, lxr, lxi, lyr, lyi, c, out):
    """Add m[a, b] = Σ λ̄_a ψ_b over the pairs (a, b ∈ {0, 1}: the wire's bit) to ``out``
    (re/im of m00, m01, m10, m11), then undo the step (``c`` holds its G†) on ψ and λ."""
    ar, ai, br, bi, cr, ci, dr, di = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    m00r = m00i = m01r = m01i = m10r = m10i = m11r = m11i = 0.0
    for r in range(xr.shape[0]):
        p0r = xr[r]
        p0i = xi[r]
        p1r = yr[r]
        p1i = yi[r]
        l0r = lxr[r]
        l0i = lxi[r]
        l1r = lyr[r]
        l1i = lyi[r]
        m00r += l0r * p0r + l0i * p0i
        m00i += l0r * p0i - l0i * p0r
        m01r += l0r * p1r + l0i * p1i
        m01i += l0r * p1i - l0i * p1r
        m10r += l1r * p0r + l1i * p0i
        m10i += l1r * p0i - l1i * p0r
        m11r += l1r * p1r + l1i * p1i
        m11i += l1r * p1i - l1i * p1r
        xr[r] = ar * p0r - ai * p0i + br * p1r - bi * p1i
        xi[r] = ar * p0i + ai * p0r + br * p1i + bi * p1r
        yr[r] = cr * p0r - ci * p0i + dr * p1r - di * p1i
        yi[r] = cr * p0i + ci * p0r + dr * p1i + di * p1r
        lxr[r] = ar * l0r - ai * l0i + br * l1r - bi * l1i
        lxi[r] = ar * l0i + ai * l0r + br * l1i + bi * l1r
        lyr[r] = cr * l0r - ci * l0i + dr * l1r - di * l1i
        lyi[r] = cr * l0i + ci * l0r + dr * l1i + di * l1r
    out[0] += m00r
    out[1] += m00i
    out[2] += m01r
    out[3] += m01i
    out[4] += m10r
    out[5] += m10i
    out[6] += m11r
    out[7] += m11i


@njit(fastmath=True, cache=True)
def _moment_gate(r, i, lr, li, c, w, n, out):
    """:func:`_moment_pairs` over every pair of wire ``w``."""
    half = 1 << (n - w - 1)
    if half >= 8:
        for start in range(0, r.shape[0], 2 * half):
            mid = start + half
            end = mid + half
            _moment_pairs(r[start:mid], i[start:mid], r[mid:end], i[mid:end],
                          lr[start:mid], li[start:mid], lr[mid:end], li[mid:end], c, out)
    else:
        vr = r.reshape(-1, 2 * half)
        vi = i.reshape(-1, 2 * half)
        ur = lr.reshape(-1, 2 * half)
        ui = li.reshape(-1, 2 * half)
        for k in range(half):
            _moment_pairs(vr[:, k], vi[:, k], vr[:, half + k], vi[:, half + k],
                          ur[:, k], ui[:, k], ur[:, half + k], ui[:, half + k], c, out)


@njit(parallel=True, fastmath=True, cache=True)
def adjoint_sweep(re, im, lre, lim, coef, moment, prog, dterms, ddesc, dsign, ptables, n, out):
    """Backward sweep for every sample (rows of ψ = (re, im) and λ = (lre, lim), both consumed).
    ``prog`` is the inverted program: (GATE, wire, column k) undoes single-qubit step k
    (``coef[s, k]`` holds its G†), first adding the step's moments m[a, b] = Σ λ̄_a ψ_b to
    ``out[s, moment[k]]`` when ``moment[k]`` ≥ 0 (∂C/∂θ of a factor with generator G_f, moved
    to the step's output, is Im Σ G_f[a, b] m[a, b]); a PHASE row (columns k, k + 1 hold the
    conjugate table) adds its terms' moments Σ λ̄ z ψ to ``out[s, k]`` (∂C/∂φ = Im of it); DIAG
    and PERM rows are already inverses, and a ROTATE row by a is undone by rotating by n − a."""
    for s in prange(re.shape[0]):
        r = re[s]
        i = im[s]
        lr = lre[s]
        li = lim[s]
        fr = np.empty_like(r)
        fi = np.empty_like(i)
        for kind, a, k in prog:
            if kind == 0:
                if moment[k] >= 0:
                    _moment_gate(r, i, lr, li, coef[s, k], a, n, out[s, moment[k]])
                else:
                    apply_gate(r, i, coef[s, k], a, n)
                    apply_gate(lr, li, coef[s, k], a, n)
            elif kind == 4:
                _phase_moment(r, i, lr, li, coef[s], k, ddesc[a], out[s, k])
            else:  # one free pair of buffers serves both states
                r, i, fr, fi = _fixed_row(r, i, fr, fi, kind, a, dterms, ddesc, dsign, ptables, n)
                lr, li, fr, fi = _fixed_row(lr, li, fr, fi, kind, a, dterms, ddesc, dsign, ptables, n)


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


@njit(fastmath=True, cache=True)
def _cz_lanes(r, i, terms, desc):
    for x in range(r.shape[0]):
        if _sign(x, terms, desc[0], desc[1]) < 0:
            for s in range(r.shape[1]):
                r[x, s] = -r[x, s]
                i[x, s] = -i[x, s]


@njit(fastmath=True, cache=True)
def _phase_lanes(r, i, coef, col, desc, s0):
    """:func:`_phase` on lane states, the tables of samples s0… in ``coef`` (g, 8, B)."""
    for x in range(r.shape[0]):
        v = _phase_index(x, desc)
        c = coef[col + (v >> 2)]
        j = 2 * (v & 3)
        for s in range(r.shape[1]):
            pr = c[j, s0 + s]
            pi = c[j + 1, s0 + s]
            x_r = r[x, s]
            r[x, s] = pr * x_r - pi * i[x, s]
            i[x, s] = pr * i[x, s] + pi * x_r


@njit(fastmath=True, cache=True)
def _permute_lanes(r, i, tr, ti, table):
    for x in range(r.shape[0]):
        p = _source(x, table)
        for s in range(r.shape[1]):
            tr[x, s] = r[p, s]
            ti[x, s] = i[p, s]


@njit(parallel=True, fastmath=True, cache=True)
def evolve_lanes(re, im, coef, prog, dterms, ddesc, dsign, ptables, n):
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
                _cz_lanes(r, i, dterms, ddesc[a])
            elif kind == 4:
                _phase_lanes(r, i, coef, prog[row, 2], ddesc[a], s0)
            else:
                _permute_lanes(r, i, tr, ti, ptables[a])
                r, tr = tr, r
                i, ti = ti, i
        re[:, s0:s1] = r
        im[:, s0:s1] = i

