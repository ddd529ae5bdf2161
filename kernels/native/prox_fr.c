/*
 * Proximal map of the action |s|^2 / h(a, b), cell by cell (s: k components), where
 * h(a, b) = ((sqrt a + sqrt b) / 2)^2 is the mean of the densities a and b at the two ends of
 * a time step that is exact for sqrt(rho) affine in time (pure growth and decay):
 *
 *     argmin  gamma |s|^2 / h(a, b) + |a - a~|^2 / 2 + |b - b~|^2 / 2 + |s - s~|^2 / 2.
 *
 * Eliminating s (s = s~ h / (h + 2 gamma)) leaves a convex problem in (a, b). With
 * x = sqrt a, y = sqrt b its optimality conditions read x (x^2 - a~) = y (y^2 - b~) = c with
 * c = q S / (2 (S^2 + 2 gamma)^2), S = (x + y) / 2, q = gamma |s~|^2: given c, x and y are the
 * largest roots of two cubics, and the scalar c solves g(c) = c - q S(c) / (2 (S^2 +
 * 2 gamma)^2) = 0, found by Newton's method safeguarded by bisection on [0, q max_S phi / 2].
 * The origin is the answer when both a~ and b~ are negative and q is small enough (the
 * problem's directional derivatives there are nonnegative).
 *
 * Densities that are given (the end densities of the path) stay fixed: the first nfix cells
 * keep a = fa[i], the last nfix keep b = fb[i - (n - nfix)]. Without that the optimum would
 * sit where the mean's slope is infinite (an empty end next to a positive node) and the
 * splitting would creep towards it.
 *
 * s and the result rs are stored component-major: s[j * n + i] is component j of cell i.
 * start_a, start_b (or NULL): a guess, the previous call's result. From there Newton's method
 * on the two equations in (x, y) usually settles in two or three steps; where it does not, the
 * bracketed search on c above runs. Arithmetic is in double for both storage types.
 */
#include <math.h>
#include <stdint.h>

static double largest_root(double a, double c, double x, int64_t max_iter)
{
    /* x^3 - a x - c = 0, c >= 0, by Newton's method: the cubic is convex for x > 0, so from
       any x where it increases the iterates reach the right of the root in one step and then
       decrease monotonically; x (the previous root, a warm start) is used where it increases */
    if (!(x > 0) || !(3 * x * x - a > 0) || !(x < INFINITY))
        x = sqrt(a > 0 ? a : 0) + cbrt(c);
    if (x <= 0)
        return 0;
    for (int64_t k = 0; k < max_iter; k++) {
        double df = 3 * x * x - a;
        if (!(df > 0))
            break;
        double step = (x * x * x - a * x - c) / df;
        x -= step;
        if (fabs(step) <= 1e-15 * x)
            break;
    }
    return x;
}

static int newton_xy(double a0, double b0, double q, double gamma, int fix_a, int fix_b,
                     double *x_io, double *y_io, double tol)
{
    /* Newton's method on x (x^2 - a~) = y (y^2 - b~) = c(S) from a warm start (the previous
       call's result); 0 where it leaves x, y > 0 or does not settle in a few steps */
    double x = *x_io, y = *y_io, sqrt_tol = sqrt(tol);
    for (int k = 0; k < 8; k++) {
        double s = 0.5 * (x + y), den = s * s + 2 * gamma;
        double c = q * s / (2 * den * den);
        double dc = 0.25 * q * (1 / (den * den) - 4 * s * s / (den * den * den));
        double f1 = fix_a ? 0 : x * x * x - a0 * x - c, f2 = fix_b ? 0 : y * y * y - b0 * y - c;
        double j11 = fix_a ? 1 : 3 * x * x - a0 - dc, j12 = fix_a ? 0 : -dc;
        double j22 = fix_b ? 1 : 3 * y * y - b0 - dc, j21 = fix_b ? 0 : -dc;
        double det = j11 * j22 - j12 * j21;
        if (!(det > 0))
            return 0;
        double dx = (j22 * f1 - j12 * f2) / det, dy = (j11 * f2 - j21 * f1) / det;
        x -= dx;
        y -= dy;
        if (!(fix_a || x > 0) || !(fix_b || y > 0))
            return 0;
        if (fabs(dx) <= sqrt_tol * x && fabs(dy) <= sqrt_tol * y) { /* quadratic: now ~tol */
            *x_io = x;
            *y_io = y;
            return 1;
        }
    }
    return 0;
}

static double fr_cell(double a0, double b0, double q, double gamma, int fix_a, double xa,
                      int fix_b, double yb, double *x_out, double *y_out,
                      int64_t max_iter, double tol)
{
    double x, y;
    /* the slope of S at c = 0+ from each side: 1 / (-a~) for a free negative a~, 0 for a node
       fixed at zero, and none (-1) where the root stays positive */
    double sa = fix_a ? (xa > 0 ? -1 : 0) : (a0 < 0 ? 1 / -a0 : -1);
    double sb = fix_b ? (yb > 0 ? -1 : 0) : (b0 < 0 ? 1 / -b0 : -1);
    if (!(q > 0)) {
        x = fix_a ? xa : sqrt(a0 > 0 ? a0 : 0);
        y = fix_b ? yb : sqrt(b0 > 0 ? b0 : 0);
    } else if (sa >= 0 && sb >= 0 && q / (16 * gamma * gamma) * (sa + sb) <= 1) {
        x = y = 0;
    } else if ((fix_a || *x_out > 0) && (fix_b || *y_out > 0) &&
               (x = fix_a ? xa : *x_out, y = fix_b ? yb : *y_out, x + y > 0) &&
               newton_xy(a0, b0, q, gamma, fix_a, fix_b, &x, &y, tol)) {
        /* warm start settled */
    } else {
        double s0 = sqrt(2 * gamma / 3), d0 = 8 * gamma / 3;
        double lo = 0, hi = q * s0 / (2 * d0 * d0), c = 0.5 * (lo + hi), dx = 0, dy = 0;
        if (!(hi > 0)) { /* q so small that the bracket underflows: as q = 0 */
            x = fix_a ? xa : sqrt(a0 > 0 ? a0 : 0);
            y = fix_b ? yb : sqrt(b0 > 0 ? b0 : 0);
            goto done;
        }
        x = y = 0;
        for (int64_t k = 0; k < max_iter; k++) {
            x = fix_a ? xa : largest_root(a0, c, x, max_iter);
            y = fix_b ? yb : largest_root(b0, c, y, max_iter);
            double s = 0.5 * (x + y), den = s * s + 2 * gamma;
            double g = c - q * s / (2 * den * den);
            double dphi = 1 / (den * den) - 4 * s * s / (den * den * den);
            double ex = 3 * x * x - a0, ey = 3 * y * y - b0; /* > 0 at a root with c > 0 */
            dx = fix_a || !(ex > 0) ? 0 : 1 / ex;
            dy = fix_b || !(ey > 0) ? 0 : 1 / ey;
            double dg = 1 - 0.25 * q * dphi * (dx + dy);
            if (g < 0)
                lo = c;
            else
                hi = c;
            double next = c - g / dg;
            if (g == 0 || (dg > 0 && fabs(next - c) <= tol * c)) {
                /* converged: the roots follow the last (tiny) step to first order */
                x += dx * (next - c);
                y += dy * (next - c);
                c = next;
                break;
            }
            if (!(dg > 0) || !(next > lo && next < hi))
                next = 0.5 * (lo + hi);
            c = next;
            if (hi - lo <= tol * hi) {
                x = fix_a ? xa : largest_root(a0, c, x, max_iter);
                y = fix_b ? yb : largest_root(b0, c, y, max_iter);
                break;
            }
        }
        if (x < 0)
            x = 0;
        if (y < 0)
            y = 0;
    }
done:
    *x_out = x;
    *y_out = y;
    double h = 0.25 * (x + y) * (x + y);
    return h / (h + 2 * gamma);
}

#define DEFINE_PROX_FR(NAME, T)                                                               \
    void NAME(int64_t n, int64_t k, const T *a, const T *b, const T *s, T gamma, int64_t nfix, \
              const T *fa, const T *fb, const T *start_a, const T *start_b, T *ra, T *rb,      \
              T *rs, int64_t max_iter, T tol)                                                  \
    {                                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                      \
            int fix_a = fa && i < nfix, fix_b = fb && i >= n - nfix;                           \
            double q = 0;                                                                      \
            for (int64_t j = 0; j < k; j++)                                                    \
                q += (double)s[j * n + i] * s[j * n + i];                                      \
            double a0 = a[i], b0 = b[i];                                                       \
            if (a0 != a0 || b0 != b0 || q != q) { /* NaN stays visible to the caller */        \
                ra[i] = rb[i] = (T)NAN;                                                        \
                for (int64_t j = 0; j < k; j++)                                                \
                    rs[j * n + i] = (T)NAN;                                                    \
                continue;                                                                      \
            }                                                                                  \
            double fa_i = fix_a ? (fa[i] > 0 ? (double)fa[i] : 0) : 0;                         \
            double fb_i = fix_b ? (fb[i - (n - nfix)] > 0 ? (double)fb[i - (n - nfix)] : 0)    \
                                : 0;                                                           \
            double x = start_a ? sqrt(start_a[i] > 0 ? (double)start_a[i] : 0) : 0;            \
            double y = start_b ? sqrt(start_b[i] > 0 ? (double)start_b[i] : 0) : 0;            \
            double f = fr_cell(a0, b0, gamma * q, gamma, fix_a, sqrt(fa_i), fix_b, sqrt(fb_i), \
                               &x, &y, max_iter, tol);                                         \
            ra[i] = (T)(fix_a ? fa_i : x * x); /* given densities come back exactly */         \
            rb[i] = (T)(fix_b ? fb_i : y * y);                                                 \
            for (int64_t j = 0; j < k; j++)                                                    \
                rs[j * n + i] = (T)(s[j * n + i] * f);                                         \
        }                                                                                      \
    }

DEFINE_PROX_FR(lagot_prox_fr_f64, double)
DEFINE_PROX_FR(lagot_prox_fr_f32, float)
