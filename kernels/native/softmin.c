/* Soft-minima for log-domain Sinkhorn iterations, one fused pass per row.
 *
 *   out_i = -eps log sum_j exp((h_j - C_ij) / eps)
 *
 * - lagot_block_softmin: C_ij = |x_i - y_j|^2 over a block-sparse pattern.
 *   Rows and columns are sorted by block; row block I meets the column blocks
 *   pblk[pptr[I] .. pptr[I+1]). Coordinates are given axis by axis
 *   (x: d x n, y: d x m) so that the loop over a column block vectorises.
 * - lagot_lse_rows: out_i = log sum_j exp(alpha S_ij + h_j) over a dense
 *   row-major block S (r x m), for costs that come from a matrix product.
 *
 * Each row is evaluated twice (its largest exponent, then the sum of the
 * shifted exponentials), with an exponential accurate to a few ulps that the
 * compiler vectorises (AVX2 where the processor has it, chosen at run time;
 * LAGOT_NATIVE_SIMD=0 forces the plain loops). Terms below e^-708 of the
 * largest are taken as e^-708 of it: a relative change under n * 1e-307.
 * A row with no admissible term (all h_j = -inf, or an empty pattern) gives +inf.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LOG2E 1.4426950408889634
#define LN2HI 6.93147180369123816490e-01
#define LN2LO 1.90821492927058770002e-10
#define SHIFTER 6755399441055744.0 /* 1.5 * 2^52: adding it rounds to an integer */

/* exp(t) for -708 <= t <= 0 (t is clamped below): t = k ln2 + r, |r| <= ln2 / 2,
 * exp(r) by its Taylor polynomial of degree 11 (truncation under 7e-15 relative). */
static inline double exp_nonpos(double t) {
    t = t < -708.0 ? -708.0 : t;
    double kd = t * LOG2E + SHIFTER;
    double k = kd - SHIFTER;
    double r = t - k * LN2HI - k * LN2LO;
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits;
    memcpy(&bits, &kd, sizeof bits);
    bits = (bits - 0x4338000000000000LL + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* log sum_k exp(t_k) of a buffer (read only). */
#define LSE_BODY                                                            \
    double top = -INFINITY;                                                 \
    for (int64_t k = 0; k < w; k++) top = t[k] > top ? t[k] : top;          \
    if (!(top > -INFINITY)) return -INFINITY;                               \
    if (top == INFINITY) return INFINITY;                                   \
    double s = 0.0;                                                         \
    for (int64_t k = 0; k < w; k++) s += exp_nonpos(t[k] - top);            \
    return top + log(s);

static double lse_plain(double *t, int64_t w) { LSE_BODY }
__attribute__((target("avx2,fma"))) static double lse_avx2(double *t, int64_t w) { LSE_BODY }

typedef double (*lse_fn)(double *, int64_t);

static lse_fn pick(void) {
    const char *simd = getenv("LAGOT_NATIVE_SIMD");
    if (simd && simd[0] == '0') return lse_plain;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? lse_avx2 : lse_plain;
}

/* Row blocks b0 .. b1. Each row block first gathers the columns of its pattern (their
 * coordinates and h) into contiguous buffers, then runs one long loop per row over them.
 * work: room for (d + 2) times the widest row block (sum of its column blocks' sizes).
 * bary (optional, d x n): the rows' barycentres sum_j w_ij y_j / sum_j w_ij of the weights
 * w_ij = exp((h_j - C_ij) / eps). Returns the number of pairs evaluated. */
int64_t lagot_block_softmin(int64_t b0, int64_t b1, int64_t d, int64_t n, int64_t m, const double *x,
                            const int64_t *xoff, const double *y, const int64_t *yoff, const double *h,
                            const int64_t *pptr, const int64_t *pblk, double eps, double *out, double *work,
                            double *bary) {
    lse_fn lse = pick();
    const double inv = 1.0 / eps;
    int64_t pairs = 0, wmax = 0;
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) w += yoff[pblk[p] + 1] - yoff[pblk[p]];
        wmax = w > wmax ? w : wmax;
    }
    double *hb = work, *t = work + wmax, *yb = work + 2 * wmax; /* yb: d x wmax */
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) {
            const int64_t j0 = yoff[pblk[p]], len = yoff[pblk[p] + 1] - j0;
            memcpy(hb + w, h + j0, len * sizeof(double));
            for (int64_t a = 0; a < d; a++) memcpy(yb + a * wmax + w, y + a * m + j0, len * sizeof(double));
            w += len;
        }
        for (int64_t i = xoff[I]; i < xoff[I + 1]; i++) {
            for (int64_t k = 0; k < w; k++) t[k] = hb[k];
            for (int64_t a = 0; a < d; a++) {
                const double xa = x[a * n + i];
                const double *ya = yb + a * wmax;
                for (int64_t k = 0; k < w; k++) {
                    const double diff = xa - ya[k];
                    t[k] -= diff * diff;
                }
            }
            for (int64_t k = 0; k < w; k++) t[k] *= inv;
            const double total = lse(t, w);
            out[i] = -eps * total;
            pairs += w;
            if (bary) {
                for (int64_t a = 0; a < d; a++) {
                    const double *ya = yb + a * wmax;
                    double acc = 0.0;
                    if (total > -INFINITY)
                        for (int64_t k = 0; k < w; k++) acc += exp(t[k] - total) * ya[k];
                    bary[a * n + i] = acc;
                }
            }
        }
    }
    return pairs;
}

/* out_i = log sum_j exp(alpha S_ij + h_j) for rows 0 .. r of a row-major S (r x m);
 * work: m doubles. */
void lagot_lse_rows(int64_t r, int64_t m, const double *S, double alpha, const double *h, double *out,
                    double *work) {
    lse_fn lse = pick();
    for (int64_t i = 0; i < r; i++) {
        const double *row = S + i * m;
        for (int64_t j = 0; j < m; j++) work[j] = alpha * row[j] + h[j];
        out[i] = lse(work, m);
    }
}

/* The entries of a plan pi_ij = exp(s_i + h_j - C_ij / eps) on the block pattern (row
 * blocks b0 .. b1) that are at least exp(lthr_i). With rows_out NULL, only counts them
 * per row (count[i]); else writes them from the row offsets off[i]. sums (3 doubles,
 * added to): the mass of all pattern entries left out, sum pi C and sum pi log(pi) terms
 * (pi (s_i + h_j - C / eps)). work: room for 3 times the widest row block (+ d x it). */
void lagot_block_entries(int64_t b0, int64_t b1, int64_t d, int64_t n, int64_t m, const double *x,
                         const int64_t *xoff, const double *y, const int64_t *yoff, const double *s,
                         const double *h, const int64_t *pptr, const int64_t *pblk, double eps,
                         const double *lthr, int64_t *count, const int64_t *off, int64_t *rows_out,
                         int64_t *cols_out, double *mass_out, double *sums, double *work) {
    const double inv = 1.0 / eps;
    int64_t wmax = 0;
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) w += yoff[pblk[p] + 1] - yoff[pblk[p]];
        wmax = w > wmax ? w : wmax;
    }
    double *hb = work, *c = work + wmax, *jb = work + 2 * wmax, *yb = work + 3 * wmax;
    double dropped = 0.0, cost = 0.0, ent = 0.0;
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) {
            const int64_t j0 = yoff[pblk[p]], len = yoff[pblk[p] + 1] - j0;
            memcpy(hb + w, h + j0, len * sizeof(double));
            for (int64_t k = 0; k < len; k++) jb[w + k] = (double)(j0 + k);
            for (int64_t a = 0; a < d; a++) memcpy(yb + a * wmax + w, y + a * m + j0, len * sizeof(double));
            w += len;
        }
        for (int64_t i = xoff[I]; i < xoff[I + 1]; i++) {
            for (int64_t k = 0; k < w; k++) c[k] = 0.0;
            for (int64_t a = 0; a < d; a++) {
                const double xa = x[a * n + i];
                const double *ya = yb + a * wmax;
                for (int64_t k = 0; k < w; k++) {
                    const double diff = xa - ya[k];
                    c[k] += diff * diff;
                }
            }
            int64_t kept = 0, at = rows_out ? off[i] : 0;
            for (int64_t k = 0; k < w; k++) {
                const double t = s[i] + hb[k] - c[k] * inv;
                const double p = t > -708.0 ? exp(t) : 0.0;
                if (t >= lthr[i] && p > 0.0) {
                    if (rows_out) {
                        rows_out[at] = i;
                        cols_out[at] = (int64_t)jb[k];
                        mass_out[at] = p;
                        at++;
                    }
                    kept++;
                } else {
                    dropped += p;
                }
                if (p > 0.0) { /* a zero weight gives t = -inf and p = 0: no term */
                    cost += p * c[k];
                    ent += p * t;
                }
            }
            if (!rows_out) count[i] = kept;
        }
    }
    if (rows_out) {
        sums[0] += dropped;
        sums[1] += cost;
        sums[2] += ent;
    }
}
