/*
 * Dense assignment (n x n costs, uniform masses): a forward auction with
 * epsilon-scaling followed by shortest augmenting paths.
 *
 * The auction (Bertsekas) lets every unassigned row bid for its cheapest
 * column in reduced cost c_ij - v_j, lowering v_j by the gap to its second
 * cheapest plus eps; eps shrinks phase by phase. It leaves every row within
 * eps of its cheapest column, which gives near-optimal prices. Rows that are
 * not exactly at their cheapest column (often most of them: a row that has
 * just bid sits eps above its second cheapest) are then freed and re-inserted
 * by Dijkstra shortest augmenting paths (the Jonker-Volgenant augmentation);
 * with such prices the paths are short. It keeps u_i + v_j <= c_ij and makes
 * every assigned pair tight: the assignment is optimal, up to rounding, which
 * is measured over all pairs and reported (NaN if a dual is not finite).
 *
 * The work is in four row operations (the two smallest reduced costs, a
 * Dijkstra relaxation, the largest dual violation, the range of the costs),
 * each a single pass over a row; on x86 processors with AVX2 they run on
 * 4- or 8-wide vectors, chosen at run time, and elsewhere as plain loops (or
 * everywhere with LAGOT_NATIVE_SIMD=0). Both give the same results.
 *
 * Costs must be finite and at most MAX_COST in magnitude, so that prices and
 * reduced costs cannot overflow.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* The cheapest column of a row (reduced cost h_j = c_j - v_j; the lowest
 * index among ties) and the two smallest h. */
static int64_t two_smallest_plain(int64_t n, const double *c, const double *v, double *best, double *second)
{
    double m1 = INFINITY, m2 = INFINITY;
    int64_t j1 = 0;
    for (int64_t j = 0; j < n; j++) {
        double t = c[j] - v[j];
        if (t < m1) {
            m2 = m1;
            m1 = t;
            j1 = j;
        } else if (t < m2) {
            m2 = t;
        }
    }
    *best = m1;
    *second = m2;
    return j1;
}

/* The same on single-precision costs and prices (the auction on large problems). */
static int64_t two_smallest_plain_f32(int64_t n, const float *c, const float *v, float *best, float *second)
{
    float m1 = INFINITY, m2 = INFINITY;
    int64_t j1 = 0;
    for (int64_t j = 0; j < n; j++) {
        float t = c[j] - v[j];
        if (t < m1) {
            m2 = m1;
            m1 = t;
            j1 = j;
        } else if (t < m2) {
            m2 = t;
        }
    }
    *best = m1;
    *second = m2;
    return j1;
}

/* One Dijkstra step: relax the columns through row i (d_j = min(d_j, c_j -
 * v_j - shift), pred_j = i where it drops) and return the column of least d
 * (the lowest index among ties), with the second least d in *next. Settled
 * columns carry v_j = -inf and d_j = +inf, so they neither change nor win. */
static int64_t relax_plain(int64_t n, const double *c, const double *v, double shift, double *d, int64_t *pred,
                           int64_t i, double *next)
{
    double m = INFINITY, m2 = INFINITY;
    int64_t arg = 0;
    for (int64_t j = 0; j < n; j++) {
        double h = c[j] - v[j] - shift;
        if (h < d[j]) {
            d[j] = h;
            pred[j] = i;
        }
        if (d[j] < m) {
            m2 = m;
            m = d[j];
            arg = j;
        } else if (d[j] < m2) {
            m2 = d[j];
        }
    }
    *next = m2;
    return arg;
}

/* max_j (u + v_j - c_j), at least 0. */
static double violation_plain(int64_t n, const double *c, const double *v, double u)
{
    double worst = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double r = u + v[j] - c[j];
        worst = (r > worst || r != r) ? r : worst; /* a NaN stays */
        if (worst != worst) return worst;
    }
    return worst;
}


/* Smallest and largest entry of a row; returns 0 when one is not finite. */
static int span_plain(int64_t n, const double *c, double *lo, double *hi)
{
    double a = *lo, b = *hi, z = 0.0;
    for (int64_t j = 0; j < n; j++) {
        a = c[j] < a ? c[j] : a;
        b = c[j] > b ? c[j] : b;
        z += c[j] * 0.0;
    }
    *lo = a;
    *hi = b;
    return z == 0.0;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2")))

/* Lanes hold running minima; the reduction keeps the lowest index among ties. */
AVX2 static int64_t two_smallest_avx2(int64_t n, const double *c, const double *v, double *best, double *second)
{
    __m256d a1 = _mm256_set1_pd(INFINITY), a2 = a1, b1 = a1, b2 = a1;
    __m256d ia = _mm256_setzero_pd(), ib = ia;
    __m256d ja = _mm256_setr_pd(0, 1, 2, 3), jb = _mm256_setr_pd(4, 5, 6, 7);
    const __m256d step = _mm256_set1_pd(8.0);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256d t = _mm256_sub_pd(_mm256_loadu_pd(c + j), _mm256_loadu_pd(v + j));
        __m256d s = _mm256_sub_pd(_mm256_loadu_pd(c + j + 4), _mm256_loadu_pd(v + j + 4));
        __m256d lt = _mm256_cmp_pd(t, a1, _CMP_LT_OQ), ls = _mm256_cmp_pd(s, b1, _CMP_LT_OQ);
        a2 = _mm256_min_pd(a2, _mm256_max_pd(a1, t));
        b2 = _mm256_min_pd(b2, _mm256_max_pd(b1, s));
        a1 = _mm256_min_pd(a1, t);
        b1 = _mm256_min_pd(b1, s);
        ia = _mm256_blendv_pd(ia, ja, lt);
        ib = _mm256_blendv_pd(ib, jb, ls);
        ja = _mm256_add_pd(ja, step);
        jb = _mm256_add_pd(jb, step);
    }
    double m1v[8], m2v[8], iv[8];
    _mm256_storeu_pd(m1v, a1);
    _mm256_storeu_pd(m1v + 4, b1);
    _mm256_storeu_pd(m2v, a2);
    _mm256_storeu_pd(m2v + 4, b2);
    _mm256_storeu_pd(iv, ia);
    _mm256_storeu_pd(iv + 4, ib);
    double m1 = INFINITY, m2 = INFINITY;
    int64_t j1 = 0;
    for (int q = 0; q < 8; q++) {
        double t = m1v[q];
        int64_t k = (int64_t)iv[q];
        if (t < m1 || (t == m1 && k < j1)) {
            m2 = m1 < m2 ? m1 : m2;
            m1 = t;
            j1 = k;
        } else {
            m2 = t < m2 ? t : m2;
        }
        m2 = m2v[q] < m2 ? m2v[q] : m2;
    }
    for (; j < n; j++) {
        double t = c[j] - v[j];
        if (t < m1) {
            m2 = m1;
            m1 = t;
            j1 = j;
        } else if (t < m2) {
            m2 = t;
        }
    }
    *best = m1;
    *second = m2;
    return j1;
}

AVX2 static int64_t two_smallest_avx2_f32(int64_t n, const float *c, const float *v, float *best, float *second)
{
    __m256 a1 = _mm256_set1_ps(INFINITY), a2 = a1, b1 = a1, b2 = a1;
    __m256 ia = _mm256_setzero_ps(), ib = ia;
    __m256 ja = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), jb = _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15);
    const __m256 step = _mm256_set1_ps(16.0f);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) { /* indices held as floats: exact below 2^24 columns */
        __m256 t = _mm256_sub_ps(_mm256_loadu_ps(c + j), _mm256_loadu_ps(v + j));
        __m256 s = _mm256_sub_ps(_mm256_loadu_ps(c + j + 8), _mm256_loadu_ps(v + j + 8));
        __m256 lt = _mm256_cmp_ps(t, a1, _CMP_LT_OQ), ls = _mm256_cmp_ps(s, b1, _CMP_LT_OQ);
        a2 = _mm256_min_ps(a2, _mm256_max_ps(a1, t));
        b2 = _mm256_min_ps(b2, _mm256_max_ps(b1, s));
        a1 = _mm256_min_ps(a1, t);
        b1 = _mm256_min_ps(b1, s);
        ia = _mm256_blendv_ps(ia, ja, lt);
        ib = _mm256_blendv_ps(ib, jb, ls);
        ja = _mm256_add_ps(ja, step);
        jb = _mm256_add_ps(jb, step);
    }
    float m1v[16], m2v[16], iv[16];
    _mm256_storeu_ps(m1v, a1);
    _mm256_storeu_ps(m1v + 8, b1);
    _mm256_storeu_ps(m2v, a2);
    _mm256_storeu_ps(m2v + 8, b2);
    _mm256_storeu_ps(iv, ia);
    _mm256_storeu_ps(iv + 8, ib);
    float m1 = INFINITY, m2 = INFINITY;
    int64_t j1 = 0;
    for (int q = 0; q < 16; q++) {
        float t = m1v[q];
        int64_t k = (int64_t)iv[q];
        if (t < m1 || (t == m1 && k < j1)) {
            m2 = m1 < m2 ? m1 : m2;
            m1 = t;
            j1 = k;
        } else {
            m2 = t < m2 ? t : m2;
        }
        m2 = m2v[q] < m2 ? m2v[q] : m2;
    }
    for (; j < n; j++) {
        float t = c[j] - v[j];
        if (t < m1) {
            m2 = m1;
            m1 = t;
            j1 = j;
        } else if (t < m2) {
            m2 = t;
        }
    }
    *best = m1;
    *second = m2;
    return j1;
}

AVX2 static int64_t relax_avx2(int64_t n, const double *c, const double *v, double shift, double *d, int64_t *pred,
                               int64_t i, double *next)
{
    __m256d best = _mm256_set1_pd(INFINITY), best2 = best, bi = _mm256_setzero_pd(), jv = _mm256_setr_pd(0, 1, 2, 3);
    const __m256d sh = _mm256_set1_pd(shift), four = _mm256_set1_pd(4.0);
    const __m256d iv = _mm256_castsi256_pd(_mm256_set1_epi64x(i));
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m256d h = _mm256_sub_pd(_mm256_sub_pd(_mm256_loadu_pd(c + j), _mm256_loadu_pd(v + j)), sh);
        __m256d dj = _mm256_loadu_pd(d + j);
        __m256d lt = _mm256_cmp_pd(h, dj, _CMP_LT_OQ);
        dj = _mm256_blendv_pd(dj, h, lt);
        _mm256_storeu_pd(d + j, dj);
        __m256d pj = _mm256_loadu_pd((const double *)(pred + j)); /* int64 bits, only moved */
        _mm256_storeu_pd((double *)(pred + j), _mm256_blendv_pd(pj, iv, lt));
        __m256d lb = _mm256_cmp_pd(dj, best, _CMP_LT_OQ);
        best2 = _mm256_min_pd(best2, _mm256_max_pd(best, dj));
        best = _mm256_min_pd(best, dj);
        bi = _mm256_blendv_pd(bi, jv, lb);
        jv = _mm256_add_pd(jv, four);
    }
    double bv[4], bv2[4], bx[4];
    _mm256_storeu_pd(bv, best);
    _mm256_storeu_pd(bv2, best2);
    _mm256_storeu_pd(bx, bi);
    double m = INFINITY, m2 = INFINITY;
    int64_t arg = 0;
    for (int q = 0; q < 4; q++) {
        if (bv[q] < m || (bv[q] == m && (int64_t)bx[q] < arg)) {
            m2 = m < m2 ? m : m2;
            m = bv[q];
            arg = (int64_t)bx[q];
        } else {
            m2 = bv[q] < m2 ? bv[q] : m2;
        }
        m2 = bv2[q] < m2 ? bv2[q] : m2;
    }
    for (; j < n; j++) {
        double h = c[j] - v[j] - shift;
        if (h < d[j]) {
            d[j] = h;
            pred[j] = i;
        }
        if (d[j] < m) {
            m2 = m;
            m = d[j];
            arg = j;
        } else if (d[j] < m2) {
            m2 = d[j];
        }
    }
    *next = m2;
    return arg;
}

AVX2 static double violation_avx2(int64_t n, const double *c, const double *v, double u)
{
    __m256d w = _mm256_setzero_pd(), nan = w;
    const __m256d uu = _mm256_set1_pd(u);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m256d r = _mm256_sub_pd(_mm256_add_pd(uu, _mm256_loadu_pd(v + j)), _mm256_loadu_pd(c + j));
        w = _mm256_max_pd(w, r);
        nan = _mm256_or_pd(nan, _mm256_cmp_pd(r, r, _CMP_UNORD_Q));
    }
    if (_mm256_movemask_pd(nan)) return NAN;
    double wv[4];
    _mm256_storeu_pd(wv, w);
    double worst = 0.0;
    for (int q = 0; q < 4; q++) worst = wv[q] > worst ? wv[q] : worst;
    for (; j < n; j++) {
        double r = u + v[j] - c[j];
        worst = (r > worst || r != r) ? r : worst;
        if (worst != worst) return worst;
    }
    return worst;
}

AVX2 static int span_avx2(int64_t n, const double *c, double *lo, double *hi)
{
    __m256d a = _mm256_set1_pd(*lo), b = _mm256_set1_pd(*hi), z = _mm256_setzero_pd();
    const __m256d zero = _mm256_setzero_pd();
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m256d t = _mm256_loadu_pd(c + j);
        a = _mm256_min_pd(a, t);
        b = _mm256_max_pd(b, t);
        z = _mm256_add_pd(z, _mm256_mul_pd(t, zero)); /* NaN once an entry is not finite */
    }
    double av[4], bv[4], zv[4];
    _mm256_storeu_pd(av, a);
    _mm256_storeu_pd(bv, b);
    _mm256_storeu_pd(zv, z);
    double s = zv[0] + zv[1] + zv[2] + zv[3];
    for (int q = 0; q < 4; q++) {
        *lo = av[q] < *lo ? av[q] : *lo;
        *hi = bv[q] > *hi ? bv[q] : *hi;
    }
    for (; j < n; j++) {
        *lo = c[j] < *lo ? c[j] : *lo;
        *hi = c[j] > *hi ? c[j] : *hi;
        s += c[j] * 0.0;
    }
    return s == 0.0;
}
#endif

typedef struct {
    int64_t (*two_smallest)(int64_t, const double *, const double *, double *, double *);
    int64_t (*relax)(int64_t, const double *, const double *, double, double *, int64_t *, int64_t, double *);
    double (*violation)(int64_t, const double *, const double *, double);
    int (*span)(int64_t, const double *, double *, double *);
    int64_t (*two_smallest_f32)(int64_t, const float *, const float *, float *, float *);
} row_ops;

static row_ops pick_row_ops(void)
{
    row_ops ops = {two_smallest_plain, relax_plain, violation_plain, span_plain, two_smallest_plain_f32};
    const char *simd = getenv("LAGOT_NATIVE_SIMD"); /* "0": plain loops everywhere (for testing) */
    if (simd && simd[0] == '0') return ops;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        ops.two_smallest = two_smallest_avx2;
        ops.two_smallest_f32 = two_smallest_avx2_f32;
        ops.relax = relax_avx2;
        ops.violation = violation_avx2;
        ops.span = span_avx2;
    }
#endif
    return ops;
}

/* The column relax() returns, or, when other columns tie with it at the
 * least d, a free one among them if any: ties are common (repeated points)
 * and settling tied columns one by one would cost a relaxation each. */
static int64_t next_column(const row_ops *ops, int64_t n, const double *c, const double *v, double shift, double *d,
                           int64_t *pred, int64_t i, const int64_t *y)
{
    double next;
    int64_t j1 = ops->relax(n, c, v, shift, d, pred, i, &next);
    if (y[j1] >= 0 && next == d[j1])
        for (int64_t j = 0; j < n; j++)
            if (d[j] == d[j1] && y[j] < 0) return j;
    return j1;
}

/* Shortest augmenting paths (Dijkstra on reduced costs) for the free rows;
 * needs every assigned row tight: C[i, x_i] - v[x_i] = min_j C[i, j] - v[j].
 * Settled columns are marked by v = -inf while a path is searched. */
static int64_t augment(const row_ops *ops, int64_t n, const double *C, int64_t *x, int64_t *y, double *v,
                       const int64_t *free_rows, int64_t nfree, double *d, int64_t *pred, int64_t *settled,
                       double *dist, double *price)
{
    for (int64_t f = 0; f < nfree; f++) {
        int64_t row = free_rows[f], count = 0;
        for (int64_t j = 0; j < n; j++) {
            d[j] = INFINITY;
            pred[j] = row;
        }
        int64_t j1 = next_column(ops, n, C + row * n, v, 0.0, d, pred, row, y);
        double dmin = d[j1];
        while (y[j1] >= 0 && count < n) { /* j1 is taken: settle it and go on through its row */
            int64_t i = y[j1];
            settled[count] = j1;
            dist[count] = dmin;
            price[count++] = v[j1];
            double shift = C[i * n + j1] - v[j1] - dmin;
            v[j1] = -INFINITY;
            d[j1] = INFINITY;
            j1 = next_column(ops, n, C + i * n, v, shift, d, pred, i, y);
            dmin = d[j1];
        }
        if (y[j1] >= 0) return -1; /* no free column reached: only with costs that are not finite */
        for (int64_t k = 0; k < count; k++) v[settled[k]] = price[k] + dist[k] - dmin;
        for (int64_t j = j1;;) { /* flip the path */
            int64_t i = pred[j], next = x[i];
            y[j] = i;
            x[i] = j;
            if (i == row) break;
            j = next;
        }
    }
    return 0;
}

/* The auction's epsilon: range / 10 at the start, divided by 6 per phase,
 * down to range * 1e-2 / n (about 10% fewer bids and row passes in all than
 * 1e-4 / n, the finish taking a few more rows); on single-precision copies, not below
 * range * 2^-20 (16 units in the last place of the costs' range), which the
 * copies can still resolve. Problems of SINGLE_MIN or more rows bid on such
 * copies (when their range suits single precision): half the memory traffic
 * and twice the lanes per pass, 15-45% faster from 1,024 rows here; the exact
 * finish works on the given costs either way. */
#define EPS_START 10.0
#define EPS_FACTOR 6.0
#define EPS_END 1e-2
#define SINGLE_MIN 512
#define MAX_COST 1e300 /* prices move by at most a few ranges: far from overflow */
#define SINGLE_FLOOR 9.5367431640625e-07 /* 2^-20 */

/* Auction phases on C, or on single-precision copies cf, vf when cf is given. */
static void auction(const row_ops *ops, int64_t n, const double *C, double *v, const float *cf, float *vf, int64_t *x,
                    int64_t *y, int64_t *free_rows, double range)
{
    double eps = range / EPS_START, eps_final = range * EPS_END / (double)n;
    if (cf && eps_final < range * SINGLE_FLOOR) eps_final = range * SINGLE_FLOOR;
    while (range > 0.0 && n > 1) {
        int64_t nfree = 0;
        for (int64_t i = 0; i < n; i++) {
            x[i] = -1;
            y[i] = -1;
            free_rows[nfree++] = i;
        }
        int64_t budget = 64 * n + 1024; /* a bound on the bids; augmentation finishes whatever is left */
        while (nfree > 0 && budget-- > 0) {
            int64_t i = free_rows[--nfree], j1;
            if (cf) {
                float best, second;
                j1 = ops->two_smallest_f32(n, cf + i * n, vf, &best, &second);
                vf[j1] -= (second - best) + (float)eps;
            } else {
                double best, second;
                j1 = ops->two_smallest(n, C + i * n, v, &best, &second);
                v[j1] -= (second - best) + eps;
            }
            int64_t old = y[j1];
            y[j1] = i;
            x[i] = j1;
            if (old >= 0) {
                x[old] = -1;
                free_rows[nfree++] = old;
            }
        }
        if (nfree > 0 || eps <= eps_final) break;
        eps = eps / EPS_FACTOR > eps_final ? eps / EPS_FACTOR : eps_final;
    }
}

/* Auction phases, then the exact finish. Returns 0, or -1 on a cost that is not finite or too large. */
static int64_t dense_assign(const row_ops *ops, int64_t n, const double *C, int64_t *x, int64_t *y, double *u,
                            double *v, int64_t *free_rows, double *d, int64_t *pred, int64_t *settled, double *dist,
                            double *price)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (!ops->span(n, C + i * n, &lo, &hi)) return -1;
    if (lo < -MAX_COST || hi > MAX_COST) return -1;
    for (int64_t j = 0; j < n; j++) {
        v[j] = 0.0;
        y[j] = -1;
    }
    for (int64_t i = 0; i < n; i++) x[i] = -1;
    float *cf = n >= SINGLE_MIN && hi - lo > 1e-30 && hi - lo < 1e30 ? (float *)malloc((size_t)(n * n) * sizeof(float)) : NULL;
    float *vf = cf ? (float *)malloc((size_t)n * sizeof(float)) : NULL;
    if (cf && vf) { /* costs less their minimum, in [0, range] */
        for (int64_t q = 0; q < n * n; q++) cf[q] = (float)(C[q] - lo);
        for (int64_t j = 0; j < n; j++) vf[j] = 0.0f;
        auction(ops, n, C, v, cf, vf, x, y, free_rows, hi - lo);
        for (int64_t j = 0; j < n; j++) v[j] = (double)vf[j]; /* the same prices for the costs less lo */
    } else {
        auction(ops, n, C, v, NULL, NULL, x, y, free_rows, hi - lo);
    }
    free(cf);
    free(vf);
    /* Raise each assigned column's price by its row's slack (at most eps), which
     * makes that row tight; a row stays tight unless another row's raised column
     * comes within that slack of its own. Without this, rows tied with each other
     * (repeated points, separable costs) were all freed, and their paths settled
     * the tied columns one by one: 200 ms instead of 6-11 ms at n = 600. */
    for (int64_t i = 0; i < n; i++) {
        double m, second;
        ops->two_smallest(n, C + i * n, v, &m, &second);
        d[i] = x[i] >= 0 ? C[i * n + x[i]] - v[x[i]] - m : 0.0;
    }
    for (int64_t i = 0; i < n; i++)
        if (x[i] >= 0) v[x[i]] += d[i];
    /* keep the rows that sit exactly at their cheapest column; augment the others */
    int64_t nfree = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *Ci = C + i * n;
        double m, second;
        ops->two_smallest(n, Ci, v, &m, &second);
        if (x[i] >= 0 && Ci[x[i]] - v[x[i]] > m) {
            y[x[i]] = -1;
            x[i] = -1;
        }
        if (x[i] < 0) free_rows[nfree++] = i;
    }
    if (augment(ops, n, C, x, y, v, free_rows, nfree, d, pred, settled, dist, price) != 0) return -1;
    for (int64_t i = 0; i < n; i++) u[i] = C[i * n + x[i]] - v[x[i]];
    return 0;
}

/*
 * Optimal assignments for cost matrices costs[b] (n x n), b in [b0, b1):
 * col4row, duals u, v and, per problem, the largest u_i + v_j - C_ij over
 * all pairs (rounding). Returns 0, 1 (out of memory) or -(b + 1) for a
 * problem with a cost that is not finite or exceeds MAX_COST in magnitude.
 */
int64_t lagot_batch_assign_costs(int64_t b0, int64_t b1, int64_t n, const double *costs, int64_t *col4row,
                                 double *u, double *v, double *infeasibility)
{
    row_ops ops = pick_row_ops();
    int64_t *y = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t *free_rows = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t *settled = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t *pred = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    double *d = (double *)malloc((size_t)n * sizeof(double));
    double *dist = (double *)malloc((size_t)n * sizeof(double));
    double *price = (double *)malloc((size_t)n * sizeof(double));
    int64_t status = (!y || !free_rows || !settled || !pred || !d || !dist || !price) ? 1 : 0;
    for (int64_t b = b0; b < b1 && status == 0; b++) {
        const double *C = costs + b * n * n;
        double *ub = u + b * n, *vb = v + b * n;
        if (dense_assign(&ops, n, C, col4row + b * n, y, ub, vb, free_rows, d, pred, settled, dist, price) != 0) {
            status = -(b + 1);
            break;
        }
        double worst = 0.0;
        for (int64_t i = 0; i < n && worst == worst; i++) { /* stops at a NaN */
            double r = ops.violation(n, C + i * n, vb, ub[i]);
            worst = (r > worst || r != r) ? r : worst;
        }
        infeasibility[b] = worst;
    }
    free(y);
    free(free_rows);
    free(settled);
    free(pred);
    free(d);
    free(dist);
    free(price);
    return status;
}
