/*
 * The k smallest reduced costs r_ij = |x_i - y_j|^2 - g_j per row, over all
 * pairs, with whole blocks of y skipped when a lower bound proves they cannot
 * contribute. Exact: a skipped block holds no value below the row's threshold.
 *
 * The y points are grouped in blocks (contiguous after a permutation), each
 * with a bounding box [lo, hi] and an affine upper bound of the potential,
 * g_j <= a . y_j + b for j in the block. Completing the square,
 *
 *     r_ij >= |y_j - (x_i + a/2)|^2 - |a|^2/4 - a . x_i - b
 *          >= dist(x_i + a/2, box)^2 - |a|^2/4 - a . x_i - b,
 *
 * which is tight when g is nearly affine on the block (smooth potentials).
 * Rows keep their k best values below thresh[i] (+inf: no threshold); a block
 * is evaluated only if its bound, minus margin (rounding), is below the
 * current k-th value. The block with the smallest bound is evaluated first.
 *
 * Values are computed from differences, r = sum_a (x_ia - y_ja)^2 - g_j, and
 * returned as rigorous lower bounds: minus a bound on their rounding error,
 * 4 (d + 2) eps (|x_i - y_j|^2 + |g_j|). The block bounds get a generous
 * relative margin: it costs evaluations, never correctness.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static void insert(double *vals, int64_t *idx, int64_t k, double v, int64_t j) {
    int64_t p = k - 1;
    while (p > 0 && vals[p - 1] > v) {
        vals[p] = vals[p - 1];
        idx[p] = idx[p - 1];
        p--;
    }
    vals[p] = v;
    idx[p] = j;
}

int64_t lagot_pruned_topk(
    int64_t row_start, int64_t row_end, int64_t d,
    const double *x,                 /* (n, d) */
    const double *y,                 /* (m, d), block-contiguous */
    const double *g,                 /* (m,) potential */
    int64_t nb, const int64_t *off,  /* (nb + 1,) block offsets */
    const double *lo, const double *hi, /* (nb, d) boxes */
    const double *aff_a, const double *aff_b, /* (nb, d), (nb,) */
    const double *thresh,            /* (n,) */
    double margin,                   /* extra absolute margin on the block bounds */
    int64_t k,
    double *vals, int64_t *idx,      /* (n, k) out, ascending; +inf / -1 when empty */
    double *work)                    /* (nb,) scratch */
{
    int64_t evaluated = 0;
    for (int64_t i = row_start; i < row_end; i++) {
        const double *xi = x + i * d;
        double *vi = vals + i * k;
        int64_t *ii = idx + i * k;
        const double rel = 4.0 * (double)(d + 2) * DBL_EPSILON;
        for (int64_t q = 0; q < k; q++) {
            vi[q] = INFINITY;
            ii[q] = -1;
        }
        double limit = thresh[i];
        int64_t first = 0;
        double first_bound = INFINITY;
        for (int64_t J = 0; J < nb; J++) {
            const double *aJ = aff_a + J * d;
            double dist2 = 0.0, aa = 0.0, ax = 0.0;
            for (int64_t a = 0; a < d; a++) {
                double c = xi[a] + 0.5 * aJ[a];
                double gap = c < lo[J * d + a] ? lo[J * d + a] - c : (c > hi[J * d + a] ? c - hi[J * d + a] : 0.0);
                dist2 += gap * gap;
                aa += aJ[a] * aJ[a];
                ax += aJ[a] * xi[a];
            }
            double bound = dist2 - 0.25 * aa - ax - aff_b[J];
            bound -= 1e-10 * (dist2 + 0.25 * aa + fabs(ax) + fabs(aff_b[J])) + margin;
            work[J] = bound;
            if (bound < first_bound) {
                first_bound = bound;
                first = J;
            }
        }
        for (int64_t step = -1; step < nb; step++) {
            int64_t J = step < 0 ? first : step;
            if (step == first) continue;
            double kth = vi[k - 1] < limit ? vi[k - 1] : limit;
            if (!(work[J] < kth)) continue;
            evaluated += off[J + 1] - off[J];
            for (int64_t j = off[J]; j < off[J + 1]; j++) {
                const double *yj = y + j * d;
                double c = 0.0;
                for (int64_t a = 0; a < d; a++) {
                    double t = xi[a] - yj[a];
                    c += t * t;
                }
                double r = c - g[j];
                r -= rel * (c + fabs(g[j]));
                if (r < kth) {
                    insert(vi, ii, k, r, j);
                    kth = vi[k - 1] < limit ? vi[k - 1] : limit;
                }
            }
        }
    }
    return evaluated;
}
