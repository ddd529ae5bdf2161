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
 * - lagot_csr_softmin: C_ij stored on a sparse pattern in compressed rows.
 *
 * Where the processor has AVX2 and FMA (chosen at run time; LAGOT_NATIVE_SIMD=0
 * forces the plain loops), each row is one fused pass over its pairs, four at a
 * time: cost, exponent shifted by a guess (the previous row's result), its
 * running maximum and the sum of exponentials. When the guess was off (largest
 * shifted exponent above 700 or below -300) the row is summed again with the
 * maximum as its shift, so the result never depends on the guess beyond
 * round-off. The plain loops take two passes per row (the maximum, then the
 * sum). The exponential's relative error is under 2e-14. Terms below e^-708 of the
 * shift are taken as e^-708 of it: a relative change under n * 1e-130.
 * A row with no admissible term (all h_j = -inf, or an empty pattern) gives +inf.
 */
#include <immintrin.h>
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

static int have_avx2(void) {
    const char *simd = getenv("LAGOT_NATIVE_SIMD");
    if (simd && simd[0] == '0') return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static lse_fn pick(void) { return have_avx2() ? lse_avx2 : lse_plain; }

#define GUESS_HI 700.0  /* shifted exponents above this: summed again */
#define GUESS_LO -300.0 /* largest shifted exponent below this: summed again */

/* exp of four values in [-708, 700] (clamped below): the reduction of exp_nonpos. */
__attribute__((target("avx2,fma"))) static inline __m256d exp4(__m256d t) {
    t = _mm256_max_pd(_mm256_set1_pd(-708.0), t); /* NaN stays NaN */
    const __m256d shifter = _mm256_set1_pd(SHIFTER);
    const __m256d kd = _mm256_fmadd_pd(t, _mm256_set1_pd(LOG2E), shifter);
    const __m256d k = _mm256_sub_pd(kd, shifter);
    __m256d r = _mm256_fnmadd_pd(k, _mm256_set1_pd(LN2HI), t);
    r = _mm256_fnmadd_pd(k, _mm256_set1_pd(LN2LO), r);
    /* exp(r) on |r| <= ln2 / 2 by a degree-9 polynomial fitted for relative error (1.4e-14),
     * evaluated by Estrin's scheme (short dependency chains) */
    const __m256d r2 = _mm256_mul_pd(r, r), r4 = _mm256_mul_pd(r2, r2), r8 = _mm256_mul_pd(r4, r4);
    const __m256d p01 = _mm256_fmadd_pd(_mm256_set1_pd(0.999999999999891), r, _mm256_set1_pd(1.0000000000000124));
    const __m256d p23 = _mm256_fmadd_pd(_mm256_set1_pd(0.1666666666783513), r, _mm256_set1_pd(0.49999999999459077));
    const __m256d p45 = _mm256_fmadd_pd(_mm256_set1_pd(0.008333333000047528), r, _mm256_set1_pd(0.04166666703209976));
    const __m256d p67 = _mm256_fmadd_pd(_mm256_set1_pd(0.00019841599798680026), r, _mm256_set1_pd(0.001388880287389982));
    const __m256d p89 = _mm256_fmadd_pd(_mm256_set1_pd(2.748081654116958e-06), r, _mm256_set1_pd(2.488399137741191e-05));
    const __m256d q03 = _mm256_fmadd_pd(r2, p23, p01), q47 = _mm256_fmadd_pd(r2, p67, p45);
    const __m256d p = _mm256_fmadd_pd(r8, p89, _mm256_fmadd_pd(r4, q47, q03));
    __m256i bits = _mm256_sub_epi64(_mm256_castpd_si256(kd), _mm256_set1_epi64x(0x4338000000000000LL - 1023));
    bits = _mm256_slli_epi64(bits, 52);
    return _mm256_mul_pd(p, _mm256_castsi256_pd(bits));
}

/* One fused pass: the shifted exponents v_k - shift of a row (four at a time from
 * VALUE4, one at a time from VALUE1 for the tail), their maximum in *top and the sum
 * of their exponentials (clamped to [-708, GUESS_HI]) returned. */
#define FUSED_PASS(VALUE4, VALUE1)                                                        \
    const __m256d vshift = _mm256_set1_pd(shift), hi = _mm256_set1_pd(GUESS_HI);        \
    __m256d vtop = _mm256_set1_pd(-INFINITY), s0 = _mm256_setzero_pd(), s1 = s0;       \
    __m256d s2 = s0, s3 = s0;                                                           \
    int64_t k = 0;                                                                      \
    for (; k + 16 <= w; k += 16) {                                                      \
        __m256d v0, v1, v2, v3;                                                         \
        VALUE4(v0, k);                                                                  \
        VALUE4(v1, k + 4);                                                              \
        VALUE4(v2, k + 8);                                                              \
        VALUE4(v3, k + 12);                                                             \
        v0 = _mm256_sub_pd(v0, vshift);                                                 \
        v1 = _mm256_sub_pd(v1, vshift);                                                 \
        v2 = _mm256_sub_pd(v2, vshift);                                                 \
        v3 = _mm256_sub_pd(v3, vshift);                                                 \
        vtop = _mm256_max_pd(vtop, _mm256_max_pd(_mm256_max_pd(v0, v1), _mm256_max_pd(v2, v3))); \
        s0 = _mm256_add_pd(s0, exp4(_mm256_min_pd(hi, v0)));                            \
        s1 = _mm256_add_pd(s1, exp4(_mm256_min_pd(hi, v1)));                            \
        s2 = _mm256_add_pd(s2, exp4(_mm256_min_pd(hi, v2)));                            \
        s3 = _mm256_add_pd(s3, exp4(_mm256_min_pd(hi, v3)));                            \
    }                                                                                   \
    for (; k + 4 <= w; k += 4) {                                                        \
        __m256d v0;                                                                     \
        VALUE4(v0, k);                                                                  \
        v0 = _mm256_sub_pd(v0, vshift);                                                 \
        vtop = _mm256_max_pd(vtop, v0);                                                 \
        s0 = _mm256_add_pd(s0, exp4(_mm256_min_pd(hi, v0)));                            \
    }                                                                                   \
    double lanes[4], tmax = -INFINITY, sum;                                             \
    _mm256_storeu_pd(lanes, vtop);                                                      \
    for (int l = 0; l < 4; l++) tmax = lanes[l] > tmax ? lanes[l] : tmax;              \
    _mm256_storeu_pd(lanes, _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3))); \
    sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);                                \
    for (; k < w; k++) {                                                                \
        double v;                                                                       \
        VALUE1(v, k);                                                                   \
        v -= shift;                                                                     \
        tmax = v > tmax ? v : tmax;                                                     \
        sum += v != v ? v : exp(v < -708.0 ? -708.0 : v < GUESS_HI ? v : GUESS_HI);     \
    }                                                                                   \
    *top = tmax;                                                                        \
    return sum;

/* v_k = (h_k - |x_i - y_k|^2) inv, y given axis by axis with stride ys. */
#define BLOCK4(v, k)                                                                      \
    do {                                                                                  \
        __m256d c = _mm256_setzero_pd();                                                  \
        for (int64_t a = 0; a < d; a++) {                                                 \
            const __m256d diff = _mm256_sub_pd(_mm256_set1_pd(xi[a]), _mm256_loadu_pd(yb + a * ys + (k))); \
            c = _mm256_fmadd_pd(diff, diff, c);                                           \
        }                                                                                 \
        v = _mm256_mul_pd(_mm256_sub_pd(_mm256_loadu_pd(hb + (k)), c), _mm256_set1_pd(inv)); \
    } while (0)
#define BLOCK1(v, k)                                                                      \
    do {                                                                                  \
        double c = 0.0;                                                                   \
        for (int64_t a = 0; a < d; a++) {                                                 \
            const double diff = xi[a] - yb[a * ys + (k)];                                 \
            c += diff * diff;                                                             \
        }                                                                                 \
        v = (hb[k] - c) * inv;                                                            \
    } while (0)

__attribute__((target("avx2,fma"))) static double block_pass(int64_t d, int64_t w, const double *xi,
                                                             const double *yb, int64_t ys, const double *hb,
                                                             double inv, double shift, double *top) {
    FUSED_PASS(BLOCK4, BLOCK1)
}

/* v_k = alpha S_k + h_k. */
#define DENSE4(v, k) v = _mm256_fmadd_pd(_mm256_set1_pd(alpha), _mm256_loadu_pd(S + (k)), _mm256_loadu_pd(h + (k)))
#define DENSE1(v, k) v = alpha * S[k] + h[k]

__attribute__((target("avx2,fma"))) static double dense_pass(int64_t w, const double *S, double alpha,
                                                             const double *h, double shift, double *top) {
    FUSED_PASS(DENSE4, DENSE1)
}

/* v_k = (h[idx_k] - c_k) inv: a row of a sparse kernel with stored costs. */
#define CSR4(v, k)                                                                                  \
    v = _mm256_mul_pd(_mm256_sub_pd(_mm256_i64gather_pd(h, _mm256_loadu_si256((const __m256i *)(idx + (k))), 8), \
                                    _mm256_loadu_pd(c + (k))),                                      \
                      _mm256_set1_pd(inv))
#define CSR1(v, k) v = (h[idx[k]] - c[k]) * inv

__attribute__((target("avx2,fma"))) static double csr_pass(int64_t w, const int64_t *idx, const double *c,
                                                           const double *h, double inv, double shift, double *top) {
    FUSED_PASS(CSR4, CSR1)
}

/* p_k = exp(t_k) (t_k clamped to [-708, GUESS_HI]). */
static void exps_plain(const double *t, double *p, int64_t w) {
    for (int64_t k = 0; k < w; k++) p[k] = exp(t[k] < -708.0 ? -708.0 : t[k] < GUESS_HI ? t[k] : GUESS_HI);
}

__attribute__((target("avx2,fma"))) static void exps_avx2(const double *t, double *p, int64_t w) {
    int64_t k = 0;
    const __m256d hi = _mm256_set1_pd(GUESS_HI);
    for (; k + 4 <= w; k += 4) _mm256_storeu_pd(p + k, exp4(_mm256_min_pd(hi, _mm256_loadu_pd(t + k))));
    for (; k < w; k++) p[k] = exp(t[k] < -708.0 ? -708.0 : t[k] < GUESS_HI ? t[k] : GUESS_HI);
}

/* log sum_k exp(v_k) from fused passes: first shifted by *guess, again by the maximum
 * when the guess was off; *guess becomes the result (the next row's guess). */
#define FUSED_LSE(PASS_CALL)                                                              \
    do {                                                                                  \
        double shift = *guess, top;                                                       \
        double sum = PASS_CALL;                                                           \
        if (sum != sum) return NAN; /* a NaN term; the guess stays */                     \
        if (!(top > GUESS_LO && top < GUESS_HI && sum < INFINITY)) {                      \
            if (!(top > -INFINITY)) return -INFINITY;                                     \
            if (top == INFINITY) return INFINITY;                                         \
            shift += top;                                                                 \
            sum = PASS_CALL;                                                              \
        }                                                                                 \
        *guess = shift + log(sum);                                                        \
        return *guess;                                                                    \
    } while (0)

static double block_lse(int64_t d, int64_t w, const double *xi, const double *yb, int64_t ys, const double *hb,
                        double inv, double *guess) {
    FUSED_LSE(block_pass(d, w, xi, yb, ys, hb, inv, shift, &top));
}

static double csr_lse(int64_t w, const int64_t *idx, const double *c, const double *h, double inv,
                      double *guess) {
    FUSED_LSE(csr_pass(w, idx, c, h, inv, shift, &top));
}

static double dense_lse(int64_t w, const double *S, double alpha, const double *h, double *guess) {
    FUSED_LSE(dense_pass(w, S, alpha, h, shift, &top));
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
    const int fused = d <= 8 && lse == lse_avx2;
    void (*exps)(const double *, double *, int64_t) = fused ? exps_avx2 : exps_plain;
    const double inv = 1.0 / eps;
    int64_t pairs = 0, wmax = 0;
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) w += yoff[pblk[p] + 1] - yoff[pblk[p]];
        wmax = w > wmax ? w : wmax;
    }
    double *hb = work, *t = work + wmax, *yb = work + 2 * wmax; /* yb: d x wmax */
    double guess = 0.0; /* blocks are sorted by cell: neighbours have close results */
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) {
            const int64_t j0 = yoff[pblk[p]], len = yoff[pblk[p] + 1] - j0;
            memcpy(hb + w, h + j0, len * sizeof(double));
            for (int64_t a = 0; a < d; a++) memcpy(yb + a * wmax + w, y + a * m + j0, len * sizeof(double));
            w += len;
        }
        for (int64_t i = xoff[I]; i < xoff[I + 1]; i++) {
            pairs += w;
            if (fused && !bary) {
                double xi[8];
                for (int64_t a = 0; a < d; a++) xi[a] = x[a * n + i];
                out[i] = -eps * block_lse(d, w, xi, yb, wmax, hb, inv, &guess);
                continue;
            }
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
            if (bary) {
                const int finite = total > -INFINITY && total < INFINITY;
                if (finite) {
                    for (int64_t k = 0; k < w; k++) t[k] -= total;
                    exps(t, t, w); /* the weights w_ij / sum_j w_ij */
                }
                for (int64_t a = 0; a < d; a++) {
                    const double *ya = yb + a * wmax;
                    double acc = 0.0;
                    if (finite)
                        for (int64_t k = 0; k < w; k++) acc += t[k] * ya[k];
                    bary[a * n + i] = acc;
                }
            }
        }
    }
    return pairs;
}

/* ---- Single-precision block pass (lagot_block_softmin32) ----
 * The same soft-minimum over a block pattern with its exponentials in single
 * precision, eight pairs at a time, for the iterations of a loop before its last
 * ones. The exponent is expanded about the row block's centre xc (x_i = xc + dx) and
 * its columns' mean yc (y_k = yc + dy_k):
 *
 *   (h_k - |x_i - y_k|^2) / eps = A_k + M + (2 dx . (yc - xc) - |dx|^2) / eps + dx . W_k,
 *   A_k + M = (h_k - |xc - y_k|^2) / eps,  M = max_k of it,  W_k = 2 dy_k / eps,
 *
 * with M and the row's constant in double, A_k and W_k rounded to single precision once
 * per row block. A_k is the exponent of the block's centre (near 0 on the columns that
 * matter) and the cross term dx . W_k is bounded by 2 |dx| |dy| / eps, the cells' widths
 * over eps (the transport's displacement sits in the row's constant). Each exponent is
 * good to about 1e-8 times that bound (under 6e-6 measured at blurs from 5 spacings down
 * to 0.05% of the diameter); a row block whose bound exceeds CROSS32_MAX (cells much
 * wider than the blur) runs the same expansion in double. Each row takes two passes over
 * its columns: the largest exponent, then the sum of the exponentials shifted by it
 * (single precision within 32 columns, double across). */
#define D32_MAX 4
#define CROSS32_MAX 128.0 /* largest bound on a row block's cross terms run in single precision */

/* exp of eight floats, clamped to [-87.3, 88] (NaN stays NaN): degree-6 Taylor
 * polynomial on |r| <= ln2 / 2 (1.2e-7 relative). */
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 t) {
    t = _mm256_max_ps(_mm256_set1_ps(-87.3f), t);
    t = _mm256_min_ps(_mm256_set1_ps(88.0f), t);
    const __m256 shifter = _mm256_set1_ps(12582912.0f); /* 1.5 * 2^23 */
    const __m256 kd = _mm256_fmadd_ps(t, _mm256_set1_ps(1.44269504f), shifter);
    const __m256 k = _mm256_sub_ps(kd, shifter);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), t);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    const __m256 r2 = _mm256_mul_ps(r, r);
    const __m256 p01 = _mm256_add_ps(_mm256_set1_ps(1.0f), r);
    const __m256 p23 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 6.0f), r, _mm256_set1_ps(0.5f));
    const __m256 p45 = _mm256_fmadd_ps(_mm256_set1_ps(1.0f / 120.0f), r, _mm256_set1_ps(1.0f / 24.0f));
    const __m256 p6 = _mm256_set1_ps(1.0f / 720.0f);
    const __m256 p = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_fmadd_ps(p6, r2, p45), r2, p23), r2, p01);
    __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(kd), _mm256_castps_si256(shifter));
    bits = _mm256_slli_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* log sum_k exp(t_k) of a buffer, four exponentials at a time (t without NaN). */
__attribute__((target("avx2,fma"))) static double lse4(const double *t, int64_t w) {
    double top = -INFINITY;
    for (int64_t k = 0; k < w; k++) top = t[k] > top ? t[k] : top;
    if (!(top > -INFINITY) || top == INFINITY) return top;
    const __m256d shift = _mm256_set1_pd(top);
    __m256d s0 = _mm256_setzero_pd();
    int64_t k = 0;
    for (; k + 4 <= w; k += 4) s0 = _mm256_add_pd(s0, exp4(_mm256_sub_pd(_mm256_loadu_pd(t + k), shift)));
    double lanes[4];
    _mm256_storeu_pd(lanes, s0);
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; k < w; k++) sum += exp_nonpos(t[k] - top);
    return top + log(sum);
}

/* v_q = A_q + dx . W_q for eight columns from q. */
#define V8(v, q)                                                                              \
    do {                                                                                      \
        v = _mm256_loadu_ps(A + (q));                                                         \
        for (int a = 0; a < D; a++) v = _mm256_fmadd_ps(dl[a], _mm256_loadu_ps(W + a * wmax + (q)), v);  \
    } while (0)

/* Thirty-two columns from q, as four vectors of eight. */
#define V8X4(v0, v1, v2, v3, q) \
    do {                        \
        V8(v0, q);              \
        V8(v1, q + 8);          \
        V8(v2, q + 16);         \
        V8(v3, q + 24);         \
    } while (0)

/* One row: log sum_q exp(A_q + dx . W_q) over w columns (w a multiple of 32), by its
 * largest term then the shifted sum; with mw (D doubles), also the weighted means
 * sum_q e_q W_q / sum_q e_q of the W's. */
__attribute__((target("avx2,fma"), always_inline)) static inline double row32(int D, int64_t w, const float *A,
                                                                              const float *W, int64_t wmax,
                                                                              const float *dx, double *mw) {
    __m256 dl[D32_MAX];
    for (int a = 0; a < D; a++) dl[a] = _mm256_set1_ps(dx[a]);
    __m256 t0 = _mm256_set1_ps(-INFINITY), t1 = t0, t2 = t0, t3 = t0;
    for (int64_t q = 0; q < w; q += 32) {
        __m256 v0, v1, v2, v3;
        V8X4(v0, v1, v2, v3, q);
        t0 = _mm256_max_ps(t0, v0);
        t1 = _mm256_max_ps(t1, v1);
        t2 = _mm256_max_ps(t2, v2);
        t3 = _mm256_max_ps(t3, v3);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_max_ps(_mm256_max_ps(t0, t1), _mm256_max_ps(t2, t3)));
    float top = -INFINITY;
    int nan = 0;
    for (int l = 0; l < 8; l++) {
        top = lanes[l] > top ? lanes[l] : top;
        nan |= lanes[l] != lanes[l];
    }
    if (nan) return NAN;
    if (!(top > -INFINITY) || top == INFINITY) return top;
    const __m256 shift = _mm256_set1_ps(top);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, m0[D32_MAX], m1[D32_MAX];
    for (int a = 0; a < D; a++) m0[a] = m1[a] = s0;
    for (int64_t q = 0; q < w; q += 32) {
        __m256 v0, v1, v2, v3;
        V8X4(v0, v1, v2, v3, q);
        v0 = exp8(_mm256_sub_ps(v0, shift));
        v1 = exp8(_mm256_sub_ps(v1, shift));
        v2 = exp8(_mm256_sub_ps(v2, shift));
        v3 = exp8(_mm256_sub_ps(v3, shift));
        const __m256 e = _mm256_add_ps(_mm256_add_ps(v0, v1), _mm256_add_ps(v2, v3));
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        if (mw) {
            for (int a = 0; a < D; a++) {
                const float *Wa = W + a * wmax + q;
                __m256 ew = _mm256_mul_ps(v0, _mm256_loadu_ps(Wa));
                ew = _mm256_fmadd_ps(v1, _mm256_loadu_ps(Wa + 8), ew);
                ew = _mm256_fmadd_ps(v2, _mm256_loadu_ps(Wa + 16), ew);
                ew = _mm256_fmadd_ps(v3, _mm256_loadu_ps(Wa + 24), ew);
                m0[a] = _mm256_add_pd(m0[a], _mm256_cvtps_pd(_mm256_castps256_ps128(ew)));
                m1[a] = _mm256_add_pd(m1[a], _mm256_cvtps_pd(_mm256_extractf128_ps(ew, 1)));
            }
        }
    }
    double sums[4];
    _mm256_storeu_pd(sums, _mm256_add_pd(s0, s1));
    const double total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    if (mw) {
        for (int a = 0; a < D; a++) {
            _mm256_storeu_pd(sums, _mm256_add_pd(m0[a], m1[a]));
            mw[a] = ((sums[0] + sums[1]) + (sums[2] + sums[3])) / total;
        }
    }
    return (double)top + log(total);
}

__attribute__((target("avx2,fma"), always_inline)) static inline int64_t block32(int D, int64_t b0, int64_t b1,
                                                                                 int64_t n, int64_t m, const double *x,
                                                                                 const int64_t *xoff, const double *y,
                                                                                 const int64_t *yoff, const double *h,
                                                                                 const int64_t *pptr, const int64_t *pblk,
                                                                                 double eps, double *out, double *bary) {
    const double inv = 1.0 / eps;
    int64_t wmax = 32, pairs = 0;
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) w += yoff[pblk[p] + 1] - yoff[pblk[p]];
        w = (w + 31) & ~(int64_t)31;
        wmax = w > wmax ? w : wmax;
    }
    float *A = malloc(sizeof(float) * wmax * (D + 1)), *W = A + wmax;
    double *tmp = malloc(sizeof(double) * wmax * (D + 2)), *tv = tmp + wmax, *Wd = tv + wmax;
    if (!A || !tmp) {
        free(A), free(tmp);
        return -2;
    }
    for (int64_t I = b0; I < b1; I++) {
        const int64_t i0 = xoff[I], i1 = xoff[I + 1];
        if (i1 <= i0) continue;
        double xc[D32_MAX];
        for (int a = 0; a < D; a++) {
            double s = 0.0;
            for (int64_t i = i0; i < i1; i++) s += x[a * n + i];
            xc[a] = s / (double)(i1 - i0);
        }
        double yc[D32_MAX] = {0.0}, rx = 0.0, ry = 0.0; /* the columns' mean; the spreads about the centres */
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) {
            const int64_t j0 = yoff[pblk[p]], len = yoff[pblk[p] + 1] - j0;
            for (int a = 0; a < D; a++)
                for (int64_t k = 0; k < len; k++) yc[a] += y[a * m + j0 + k];
            w += len;
        }
        for (int a = 0; a < D && w; a++) yc[a] /= (double)w;
        for (int64_t i = i0; i < i1; i++) {
            double r2 = 0.0;
            for (int a = 0; a < D; a++) r2 += (x[a * n + i] - xc[a]) * (x[a * n + i] - xc[a]);
            rx = r2 > rx ? r2 : rx;
        }
        double top = -INFINITY;
        int nan = 0;
        w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) {
            const int64_t j0 = yoff[pblk[p]], len = yoff[pblk[p] + 1] - j0;
            for (int64_t k = 0; k < len; k++) {
                double c = 0.0, r2 = 0.0;
                for (int a = 0; a < D; a++) {
                    const double diff = xc[a] - y[a * m + j0 + k], dy = y[a * m + j0 + k] - yc[a];
                    c += diff * diff;
                    r2 += dy * dy;
                    Wd[a * wmax + w + k] = dy;
                    W[a * wmax + w + k] = (float)(2.0 * dy * inv);
                }
                ry = r2 > ry ? r2 : ry;
                const double v = (h[j0 + k] - c) * inv;
                nan |= v != v;
                top = v > top ? v : top;
                tmp[w + k] = v;
            }
            w += len;
        }
        pairs += w * (i1 - i0);
        if (nan || !(top > -INFINITY) || top == INFINITY) { /* a NaN, no admissible column, or h = +inf */
            for (int64_t i = i0; i < i1; i++) {
                out[i] = nan ? NAN : -eps * top;
                for (int a = 0; a < D && bary; a++) bary[a * n + i] = nan ? NAN : 0.0;
            }
            continue;
        }
        /* single precision where the cross terms dx . W stay small (their rounding is the error) */
        const int single = 2.0 * sqrt(rx * ry) * inv <= CROSS32_MAX;
        const int64_t w32 = (w + 31) & ~(int64_t)31;
        for (int64_t k = 0; k < w; k++) A[k] = (float)(tmp[k] - top);
        for (int64_t k = w; k < w32; k++) {
            A[k] = -INFINITY;
            for (int a = 0; a < D; a++) W[a * wmax + k] = 0.0f;
        }
        for (int64_t i = i0; i < i1; i++) {
            float dx[D32_MAX];
            double dxd[D32_MAX], dd = 0.0, lin = 0.0;
            for (int a = 0; a < D; a++) {
                dxd[a] = x[a * n + i] - xc[a];
                dx[a] = (float)dxd[a];
                dd += dxd[a] * dxd[a];
                lin += dxd[a] * (yc[a] - xc[a]);
            }
            const double base = top + (2.0 * lin - dd) * inv; /* the row's exponent at W = 0 */
            double mw[D32_MAX] = {0.0}, r;
            if (single) {
                r = row32(D, w32, A, W, wmax, dx, bary ? mw : NULL);
            } else { /* double precision, the same expansion */
                for (int64_t k = 0; k < w; k++) {
                    double v = tmp[k] - top;
                    for (int a = 0; a < D; a++) v += 2.0 * dxd[a] * Wd[a * wmax + k] * inv;
                    tv[k] = v;
                }
                r = lse4(tv, w);
                if (bary && r > -INFINITY && r < INFINITY) {
                    double tot = 0.0;
                    for (int64_t k = 0; k < w; k++) {
                        const double e = exp_nonpos(tv[k] - r);
                        tot += e;
                        for (int a = 0; a < D; a++) mw[a] += e * Wd[a * wmax + k];
                    }
                    for (int a = 0; a < D; a++) mw[a] *= 2.0 * inv / tot;
                }
            }
            out[i] = -eps * (base + r);
            const int finite = r > -INFINITY && r < INFINITY;
            for (int a = 0; a < D && bary; a++) bary[a * n + i] = finite ? yc[a] + 0.5 * eps * mw[a] : 0.0; /* y = yc + eps W / 2 */
        }
    }
    free(A), free(tmp);
    return pairs;
}

__attribute__((target("avx2,fma"))) static int64_t block32_d(int64_t b0, int64_t b1, int64_t d, int64_t n, int64_t m,
                                                             const double *x, const int64_t *xoff, const double *y,
                                                             const int64_t *yoff, const double *h, const int64_t *pptr,
                                                             const int64_t *pblk, double eps, double *out,
                                                             double *bary) {
    switch (d) { /* the axis loops unrolled for each dimension */
    case 1: return block32(1, b0, b1, n, m, x, xoff, y, yoff, h, pptr, pblk, eps, out, bary);
    case 2: return block32(2, b0, b1, n, m, x, xoff, y, yoff, h, pptr, pblk, eps, out, bary);
    case 3: return block32(3, b0, b1, n, m, x, xoff, y, yoff, h, pptr, pblk, eps, out, bary);
    default: return block32(4, b0, b1, n, m, x, xoff, y, yoff, h, pptr, pblk, eps, out, bary);
    }
}

int64_t lagot_block_softmin32(int64_t b0, int64_t b1, int64_t d, int64_t n, int64_t m, const double *x,
                              const int64_t *xoff, const double *y, const int64_t *yoff, const double *h,
                              const int64_t *pptr, const int64_t *pblk, double eps, double *out, double *bary) {
    if (!have_avx2() || d < 1 || d > D32_MAX) return -1;
    return block32_d(b0, b1, d, n, m, x, xoff, y, yoff, h, pptr, pblk, eps, out, bary);
}

/* out_i = log sum_j exp(alpha S_ij) for rows 0 .. r of a row-major single-precision S
 * (r x m): the row's largest term, then the sum shifted by it, eight terms at a time
 * (single precision within 64 terms, double across). Returns -1 without AVX2 and FMA. */
__attribute__((target("avx2,fma"))) static void lse_rows32(int64_t r, int64_t m, const float *S, float alpha,
                                                           double *out) {
    const __m256 va = _mm256_set1_ps(alpha);
    for (int64_t i = 0; i < r; i++) {
        const float *row = S + i * m;
        __m256 t0 = _mm256_set1_ps(-INFINITY), t1 = t0;
        int64_t k = 0;
        for (; k + 16 <= m; k += 16) {
            t0 = _mm256_max_ps(t0, _mm256_mul_ps(va, _mm256_loadu_ps(row + k)));
            t1 = _mm256_max_ps(t1, _mm256_mul_ps(va, _mm256_loadu_ps(row + k + 8)));
        }
        float lanes[8], top = -INFINITY;
        int nan = 0;
        _mm256_storeu_ps(lanes, _mm256_max_ps(t0, t1));
        for (int l = 0; l < 8; l++) {
            top = lanes[l] > top ? lanes[l] : top;
            nan |= lanes[l] != lanes[l];
        }
        for (int64_t q = k; q < m; q++) {
            const float v = alpha * row[q];
            top = v > top ? v : top;
            nan |= v != v;
        }
        if (nan || !(top > -INFINITY) || top == INFINITY) {
            out[i] = nan ? NAN : top;
            continue;
        }
        const __m256 shift = _mm256_set1_ps(top);
        __m256d s0 = _mm256_setzero_pd(), s1 = s0;
        for (k = 0; k + 64 <= m; k += 64) {
            __m256 e = _mm256_setzero_ps();
            for (int u = 0; u < 64; u += 8) e = _mm256_add_ps(e, exp8(_mm256_fmsub_ps(va, _mm256_loadu_ps(row + k + u), shift)));
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
        }
        double sums[4];
        _mm256_storeu_pd(sums, _mm256_add_pd(s0, s1));
        double total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
        for (; k < m; k++) total += exp((double)(alpha * row[k] - top));
        out[i] = (double)top + log(total);
    }
}

int64_t lagot_lse_rows32(int64_t r, int64_t m, const float *S, double alpha, double *out) {
    if (!have_avx2()) return -1;
    lse_rows32(r, m, S, (float)alpha, out);
    return 0;
}

/* out_i = log sum_j exp(alpha S_ij + h_j) for rows 0 .. r of a row-major S (r x m);
 * work: m doubles. */
void lagot_lse_rows(int64_t r, int64_t m, const double *S, double alpha, const double *h, double *out,
                    double *work) {
    lse_fn lse = pick();
    double guess = 0.0;
    for (int64_t i = 0; i < r; i++) {
        const double *row = S + i * m;
        if (lse == lse_avx2) {
            out[i] = dense_lse(m, row, alpha, h, &guess);
            continue;
        }
        for (int64_t j = 0; j < m; j++) work[j] = alpha * row[j] + h[j];
        out[i] = lse(work, m);
    }
}

/* out_i = -eps log sum_{k in row i} exp((h[idx_k] - c_k) / eps) for rows r0 .. r1 of a
 * sparse kernel in compressed rows (ptr, idx, c); +inf for an empty row. */
void lagot_csr_softmin(int64_t r0, int64_t r1, const int64_t *ptr, const int64_t *idx, const double *c,
                       const double *h, double eps, double *out) {
    const int fused = have_avx2();
    const double inv = 1.0 / eps;
    double guess = 0.0;
    for (int64_t i = r0; i < r1; i++) {
        const int64_t k0 = ptr[i], w = ptr[i + 1] - k0;
        double total;
        if (fused) {
            total = csr_lse(w, idx + k0, c + k0, h, inv, &guess);
        } else {
            double top = -INFINITY, sum = 0.0;
            for (int64_t k = k0; k < k0 + w; k++) {
                const double v = (h[idx[k]] - c[k]) * inv;
                top = v > top ? v : top;
            }
            if (top > -INFINITY && top < INFINITY) {
                for (int64_t k = k0; k < k0 + w; k++) sum += exp_nonpos((h[idx[k]] - c[k]) * inv - top);
                total = top + log(sum);
            } else {
                total = top;
            }
        }
        out[i] = -eps * total;
    }
}

/* Sorts idx[0 .. w) by the labels lab[idx[k]] (least significant digit first, 11 bits a
 * pass, stable); tmp: w scratch integers, hist: 2048. */
static void radix_by_label(int64_t w, int64_t *idx, int64_t *tmp, const int64_t *lab, int64_t top, int64_t *hist) {
    for (int shift = 0; shift < 64 && (top >> shift) > 0; shift += 11) {
        memset(hist, 0, 2048 * sizeof(int64_t));
        for (int64_t k = 0; k < w; k++) hist[(lab[idx[k]] >> shift) & 2047]++;
        int64_t at = 0;
        for (int b = 0; b < 2048; b++) {
            const int64_t c = hist[b];
            hist[b] = at;
            at += c;
        }
        for (int64_t k = 0; k < w; k++) tmp[hist[(lab[idx[k]] >> shift) & 2047]++] = idx[k];
        memcpy(idx, tmp, w * sizeof(int64_t));
    }
}

/* The entries of a plan pi_ij = exp(s_i + h_j - C_ij / eps) on the block pattern (row
 * blocks b0 .. b1) that are at least exp(lthr_i). With rows_out NULL, only counts them
 * per row (count[i]); else writes them from the row offsets off[i]. sums (3 doubles,
 * added to): the mass of all pattern entries left out, sum pi C and sum pi log(pi) terms
 * (pi (s_i + h_j - C / eps)). work: room for 5 times the widest row block (+ d x it).
 * xlab, ylab (optional, with their largest value ytop): labels written in place of the
 * row and column indices; each row's entries are then in increasing column label. */
void lagot_block_entries(int64_t b0, int64_t b1, int64_t d, int64_t n, int64_t m, const double *x,
                         const int64_t *xoff, const double *y, const int64_t *yoff, const double *s,
                         const double *h, const int64_t *pptr, const int64_t *pblk, double eps,
                         const double *lthr, int64_t *count, const int64_t *off, int64_t *rows_out,
                         int64_t *cols_out, double *mass_out, double *sums, double *work,
                         const int64_t *xlab, const int64_t *ylab, int64_t ytop) {
    const double inv = 1.0 / eps;
    int64_t wmax = 0;
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) w += yoff[pblk[p] + 1] - yoff[pblk[p]];
        wmax = w > wmax ? w : wmax;
    }
    double *hb = work, *c = work + wmax, *jb = work + 2 * wmax, *tb = work + 3 * wmax, *pb = work + 4 * wmax;
    double *yb = work + 5 * wmax;
    void (*exps)(const double *, double *, int64_t) = have_avx2() ? exps_avx2 : exps_plain;
    double dropped = 0.0, cost = 0.0, ent = 0.0;
    int64_t *order = NULL, *tmp = NULL, *hist = NULL;
    if (ylab && rows_out) { /* the columns of each row block in increasing label */
        order = malloc(sizeof(int64_t) * (2 * wmax + 2048));
        if (!order) {
            sums[0] = NAN;
            return;
        }
        tmp = order + wmax;
        hist = tmp + wmax;
    }
    for (int64_t I = b0; I < b1; I++) {
        int64_t w = 0;
        for (int64_t p = pptr[I]; p < pptr[I + 1]; p++) {
            const int64_t j0 = yoff[pblk[p]], len = yoff[pblk[p] + 1] - j0;
            if (order) {
                for (int64_t k = 0; k < len; k++) order[w + k] = j0 + k;
            } else {
                memcpy(hb + w, h + j0, len * sizeof(double));
                for (int64_t k = 0; k < len; k++) jb[w + k] = (double)(j0 + k);
                for (int64_t a = 0; a < d; a++) memcpy(yb + a * wmax + w, y + a * m + j0, len * sizeof(double));
            }
            w += len;
        }
        if (order) {
            radix_by_label(w, order, tmp, ylab, ytop, hist);
            for (int64_t k = 0; k < w; k++) {
                const int64_t j = order[k];
                hb[k] = h[j];
                jb[k] = (double)ylab[j];
                for (int64_t a = 0; a < d; a++) yb[a * wmax + k] = y[a * m + j];
            }
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
            for (int64_t k = 0; k < w; k++) tb[k] = s[i] + hb[k] - c[k] * inv;
            int64_t kept = 0, at = rows_out ? off[i] : 0;
            if (!rows_out) { /* counting: no exponentials */
                for (int64_t k = 0; k < w; k++) kept += (tb[k] >= lthr[i]) & (tb[k] > -708.0);
                count[i] = kept;
                continue;
            }
            exps(tb, pb, w);
            for (int64_t k = 0; k < w; k++) {
                const double t = tb[k];
                const double p = t > -708.0 ? pb[k] : 0.0;
                if (t >= lthr[i] && t > -708.0) { /* the counting pass's test */
                    rows_out[at] = xlab ? xlab[i] : i;
                    cols_out[at] = (int64_t)jb[k];
                    mass_out[at] = p;
                    at++;
                } else {
                    dropped += p;
                }
                if (p > 0.0) { /* a zero weight gives t = -inf and p = 0: no term */
                    cost += p * c[k];
                    ent += p * t;
                }
            }
        }
    }
    free(order);
    if (rows_out) {
        sums[0] += dropped;
        sums[1] += cost;
        sums[2] += ent;
    }
}

/* The transpose of compressed rows (n rows; m columns): tptr (m + 1, filled by the caller
 * from the columns' counts), tidx, tc; next: m scratch integers. Rows stay in order
 * within each column. */
void lagot_csr_transpose(int64_t n, int64_t m, const int64_t *ptr, const int64_t *idx, const double *c,
                         const int64_t *tptr, int64_t *tidx, double *tc, int64_t *next) {
    memcpy(next, tptr, m * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = ptr[i]; k < ptr[i + 1]; k++) {
            const int64_t at = next[idx[k]]++;
            tidx[at] = i;
            tc[at] = c[k];
        }
    }
}
