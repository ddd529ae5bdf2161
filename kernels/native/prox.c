/*
 * Proximal map of the Benamou-Brenier action |m|^2 / rho, cell by cell:
 * rho is the largest real root of (X - r)(X + 2 gamma)^2 = gamma |m~|^2 (clamped at 0)
 * and m = m~ rho / (rho + 2 gamma). Newton's method from max(r, 0, start): to the
 * right of r the cubic is increasing and convex, so after at most one step the
 * iterates decrease monotonically to the root.
 * m is stored component-major: m[j * n + i] is component j of cell i.
 */
#include <math.h>
#include <stdint.h>

#define DEFINE_PROX(NAME, T, ABS)                                                             \
    void NAME(int64_t n, int64_t k, const T *r, const T *m, T gamma, const T *start, T *rho,   \
              T *mom, int64_t max_iter, T tol)                                                 \
    {                                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T q = 0;                                                                           \
            for (int64_t j = 0; j < k; j++)                                                    \
                q += m[j * n + i] * m[j * n + i];                                              \
            q *= gamma;                                                                        \
            T ri = r[i];                                                                       \
            T x = ri < 0 ? 0 : ri;                                                             \
            if (q > 0) {                                                                       \
                if (start && start[i] > x)                                                     \
                    x = start[i];                                                              \
                for (int64_t it = 0; it < max_iter; it++) {                                    \
                    T g = x + 2 * gamma;                                                       \
                    T df = g * (3 * x + 2 * gamma - 2 * ri);                                   \
                    if (!(df > 0))                                                             \
                        break;                                                                 \
                    T step = ((x - ri) * g * g - q) / df;                                      \
                    x -= step;                                                                 \
                    if (ABS(step) <= tol * (ABS(x) + gamma))                                   \
                        break;                                                                 \
                }                                                                              \
            }                                                                                  \
            if (x < 0) /* NaN stays NaN: the caller checks finiteness */                       \
                x = 0;                                                                         \
            rho[i] = x;                                                                        \
            T s = x / (x + 2 * gamma);                                                         \
            for (int64_t j = 0; j < k; j++)                                                    \
                mom[j * n + i] = m[j * n + i] * s;                                             \
        }                                                                                      \
    }

DEFINE_PROX(lagot_prox_w2_f64, double, fabs)
DEFINE_PROX(lagot_prox_w2_f32, float, fabsf)
