/*
 * Dense assignment (n x n costs, uniform masses): a forward auction with
 * epsilon-scaling followed by shortest augmenting paths.
 *
 * The auction (Bertsekas) lets every unassigned row bid for its cheapest
 * column in reduced cost c_ij - v_j, lowering v_j by the gap to its second
 * cheapest plus eps; eps shrinks phase by phase. It leaves every row within
 * eps of its cheapest column. Rows that are not exactly at their cheapest
 * column are then freed and re-inserted by Dijkstra shortest augmenting paths
 * (the Jonker-Volgenant augmentation), which keeps u_i + v_j <= c_ij and makes
 * every assigned pair tight: the assignment is optimal, up to rounding, which
 * is measured over all pairs and reported.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* The cheapest column j1 of a row (h_j = c_j - v_j) and the two smallest h;
 * three branch-free passes over a buffer, which compilers vectorise. */
static int64_t two_smallest(int64_t n, const double *c, const double *v, double *h, double *best, double *second)
{
    double m1 = INFINITY;
    for (int64_t j = 0; j < n; j++) {
        double t = c[j] - v[j];
        h[j] = t;
        m1 = t < m1 ? t : m1;
    }
    int64_t j1 = 0;
    while (j1 < n - 1 && h[j1] != m1) j1++;
    h[j1] = INFINITY;
    double m2 = INFINITY;
    for (int64_t j = 0; j < n; j++) m2 = h[j] < m2 ? h[j] : m2;
    *best = m1;
    *second = m2;
    return j1;
}
/* Shortest augmenting paths (dense Dijkstra) for the free rows; needs every
 * assigned row tight: C[i, x_i] - v[x_i] = min_j C[i, j] - v[j]. */
static void augment(int64_t n, const double *C, int64_t *x, int64_t *y, double *v, const int64_t *free_rows,
                    int64_t nfree, int64_t *collist, double *d, int64_t *pred)
{
    for (int64_t f = 0; f < nfree; f++) {
        int64_t freerow = free_rows[f], endofpath = -1, low = 0, up = 0, last = 0;
        double dmin = 0.0;
        const double *Cf = C + freerow * n;
        for (int64_t j = 0; j < n; j++) {
            d[j] = Cf[j] - v[j];
            pred[j] = freerow;
            collist[j] = j;
        }
        while (endofpath < 0) {
            if (up == low) { /* the columns at the new minimum distance join "to scan" */
                last = low - 1;
                dmin = d[collist[up++]];
                for (int64_t k = up; k < n; k++) {
                    int64_t j = collist[k];
                    double h = d[j];
                    if (h <= dmin) {
                        if (h < dmin) {
                            up = low;
                            dmin = h;
                        }
                        collist[k] = collist[up];
                        collist[up++] = j;
                    }
                }
                for (int64_t k = low; k < up; k++)
                    if (y[collist[k]] < 0) {
                        endofpath = collist[k];
                        break;
                    }
                if (endofpath >= 0) break;
            }
            int64_t j1 = collist[low++], i = y[j1];
            const double *Ci = C + i * n;
            double u1 = Ci[j1] - v[j1] - dmin;
            for (int64_t k = up; k < n; k++) {
                int64_t j = collist[k];
                double h = Ci[j] - v[j] - u1;
                if (h < d[j]) {
                    d[j] = h;
                    pred[j] = i;
                    if (h == dmin) {
                        if (y[j] < 0) {
                            endofpath = j;
                            break;
                        }
                        collist[k] = collist[up];
                        collist[up++] = j;
                    }
                }
            }
        }
        for (int64_t k = 0; k <= last; k++) { /* the scanned columns' prices */
            int64_t j0 = collist[k];
            v[j0] += d[j0] - dmin;
        }
        for (;;) {
            int64_t i = pred[endofpath];
            y[endofpath] = i;
            int64_t j1 = endofpath;
            endofpath = x[i];
            x[i] = j1;
            if (i == freerow) break;
        }
    }
}

/* Auction phases, then the exact finish. Returns 0, or -1 on a non-finite cost. */
static int64_t dense_assign(int64_t n, const double *C, int64_t *x, int64_t *y, double *u, double *v,
                            int64_t *free_rows, int64_t *collist, double *d, int64_t *pred)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t q = 0; q < n * n; q++) {
        lo = C[q] < lo ? C[q] : lo;
        hi = C[q] > hi ? C[q] : hi;
    }
    if (!isfinite(lo) || !isfinite(hi)) return -1;
    for (int64_t j = 0; j < n; j++) {
        v[j] = 0.0;
        y[j] = -1;
    }
    for (int64_t i = 0; i < n; i++) x[i] = -1;
    double range = hi - lo;
    double eps = range / 10.0, eps_final = range * 1e-4 / (double)n;
    while (range > 0.0 && n > 1) {
        int64_t nfree = 0;
        for (int64_t i = 0; i < n; i++) {
            x[i] = -1;
            y[i] = -1;
            free_rows[nfree++] = i;
        }
        int64_t budget = 64 * n + 1024; /* a bound on the bids; augmentation finishes whatever is left */
        while (nfree > 0 && budget-- > 0) {
            int64_t i = free_rows[--nfree];
            double best, second;
            int64_t j1 = two_smallest(n, C + i * n, v, d, &best, &second);
            v[j1] -= (second - best) + eps;
            int64_t old = y[j1];
            y[j1] = i;
            x[i] = j1;
            if (old >= 0) {
                x[old] = -1;
                free_rows[nfree++] = old;
            }
        }
        if (nfree > 0 || eps <= eps_final) break;
        eps = eps / 6.0 > eps_final ? eps / 6.0 : eps_final;
    }
    /* keep the rows that sit exactly at their cheapest column; augment the others */
    int64_t nfree = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *Ci = C + i * n;
        double m = INFINITY;
        for (int64_t j = 0; j < n; j++) {
            double h = Ci[j] - v[j];
            m = h < m ? h : m;
        }
        if (x[i] >= 0 && Ci[x[i]] - v[x[i]] > m) {
            y[x[i]] = -1;
            x[i] = -1;
        }
        if (x[i] < 0) free_rows[nfree++] = i;
    }
    augment(n, C, x, y, v, free_rows, nfree, collist, d, pred);
    for (int64_t i = 0; i < n; i++) u[i] = C[i * n + x[i]] - v[x[i]];
    return 0;
}

/*
 * Optimal assignments for cost matrices costs[b] (n x n), b in [b0, b1):
 * col4row, duals u, v and, per problem, the largest u_i + v_j - C_ij over
 * all pairs (rounding). Returns 0, 1 (out of memory) or -(b + 1) for a
 * problem with a non-finite cost.
 */
int64_t lagot_batch_assign_costs(int64_t b0, int64_t b1, int64_t n, const double *costs, int64_t *col4row,
                                 double *u, double *v, double *infeasibility)
{
    int64_t *y = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t *free_rows = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t *collist = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t *pred = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    double *d = (double *)malloc((size_t)n * sizeof(double));
    int64_t status = (!y || !free_rows || !collist || !pred || !d) ? 1 : 0;
    for (int64_t b = b0; b < b1 && status == 0; b++) {
        const double *C = costs + b * n * n;
        double *ub = u + b * n, *vb = v + b * n;
        if (dense_assign(n, C, col4row + b * n, y, ub, vb, free_rows, collist, d, pred) != 0) {
            status = -(b + 1);
            break;
        }
        double worst = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double r = ub[i] + vb[j] - C[i * n + j];
                worst = r > worst ? r : worst;
            }
        infeasibility[b] = worst;
    }
    free(y);
    free(free_rows);
    free(collist);
    free(pred);
    free(d);
    return status;
}

int64_t lagot_ssp_transport(int64_t n, int64_t m, const int64_t *rowptr, const int64_t *col,
                            const int64_t *colptr, const int64_t *cedge, const int64_t *erow,
                            const double *cost, const double *supply, const double *demand,
                            double tol, double tight, double *u, double *v, double *flow, int64_t warm,
                            int64_t *stats);

/* Mark the k smallest entries of each row of C (n x n); transposed: mark[j, i] for C[i, j]. */
static void mark_smallest(int64_t n, int64_t k, const double *C, int64_t row_stride, int64_t col_stride,
                          char *mark, double *vals, int64_t *idx, int transposed)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t filled = 0;
        for (int64_t j = 0; j < n; j++) {
            double c = C[i * row_stride + j * col_stride];
            if (filled == k && c >= vals[k - 1]) continue;
            int64_t p = filled < k ? filled++ : k - 1;
            while (p > 0 && vals[p - 1] > c) {
                vals[p] = vals[p - 1];
                idx[p] = idx[p - 1];
                p--;
            }
            vals[p] = c;
            idx[p] = j;
        }
        for (int64_t q = 0; q < filled; q++) {
            if (transposed) mark[idx[q] * n + i] = 1;
            else mark[i * n + idx[q]] = 1;
        }
    }
}

/*
 * Sparse variant for low-dimensional clouds, whose nearest partners are
 * meaningful: per problem, the k cheapest partners of every row and column
 * form the graph, the transportation solver (ssp.c, with row reduction)
 * solves it, and all n^2 pairs are checked; violated pairs join the graph and
 * the solve resumes warm. Same outputs as lagot_batch_assign_costs; returns 2
 * (nothing solved) when the graph cannot carry a permutation, a check finds
 * more than n / 8 violated pairs, or a third check still finds some.
 */
static int64_t sparse_assign_costs(int64_t b0, int64_t b1, int64_t n, const double *costs, int64_t k,
                                 int64_t *col4row, double *u, double *v, double *infeasibility)
{
    int64_t nn = n * n;
    double *Ct = (double *)malloc((size_t)nn * sizeof(double));
    char *mark = (char *)malloc((size_t)nn);
    int64_t *rowptr = (int64_t *)malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t *colptr = (int64_t *)malloc((size_t)(n + 2) * sizeof(int64_t));
    int64_t *col = (int64_t *)malloc((size_t)nn * sizeof(int64_t));
    int64_t *erow = (int64_t *)malloc((size_t)nn * sizeof(int64_t));
    int64_t *cedge = (int64_t *)malloc((size_t)nn * sizeof(int64_t));
    double *cost = (double *)malloc((size_t)nn * sizeof(double));
    double *flow = (double *)malloc((size_t)nn * sizeof(double));
    double *ones = (double *)malloc((size_t)n * sizeof(double));
    double *vals = (double *)malloc((size_t)(n + 1) * sizeof(double));
    int64_t *idx = (int64_t *)malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t stats[2];
    int64_t status = 0;
    if (!Ct || !mark || !rowptr || !colptr || !col || !erow || !cedge || !cost || !flow || !ones || !vals || !idx) {
        status = 1;
        goto out;
    }
    if (k > n) k = n;
    for (int64_t i = 0; i < n; i++) ones[i] = 1.0;
    for (int64_t b = b0; b < b1 && status == 0; b++) {
        const double *C = costs + b * nn;
        double *ub = u + b * n, *vb = v + b * n;
        int64_t *assign = col4row + b * n;
        double scale = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = C[i * n + j];
                Ct[j * n + i] = s;
                if (fabs(s) > scale) scale = fabs(s);
            }
        for (int64_t q = 0; q < nn; q++) mark[q] = 0;
        mark_smallest(n, k, C, n, 1, mark, vals, idx, 0); /* rows */
        mark_smallest(n, k, Ct, n, 1, mark, vals, idx, 1); /* columns, from the transpose */
        for (int64_t i = 0; i < n; i++) {
            vb[i] = 0.0;
            assign[i] = -1;
        }
        int warm = 0;
        for (int round = 0; round < 3; round++) { /* at most three solves: see the give-up below */
            /* CSR by row, CSC by column */
            int64_t E = 0;
            for (int64_t j = 0; j <= n + 1; j++) colptr[j] = 0;
            for (int64_t i = 0; i < n; i++) {
                rowptr[i] = E;
                for (int64_t j = 0; j < n; j++)
                    if (mark[i * n + j]) {
                        col[E] = j;
                        erow[E] = i;
                        cost[E] = C[i * n + j];
                        flow[E] = (warm && assign[i] == j) ? 1.0 : 0.0;
                        colptr[j + 2]++;
                        E++;
                    }
            }
            rowptr[n] = E;
            for (int64_t j = 0; j < n; j++) colptr[j + 2] += colptr[j + 1];
            for (int64_t e = 0; e < E; e++) cedge[colptr[col[e] + 1]++] = e;
            int64_t s = lagot_ssp_transport(n, n, rowptr, col, colptr, cedge, erow, cost, ones, ones, 0.5,
                                            0.0, ub, vb, flow, warm, stats);
            if (s < 0) { /* the graph cannot carry a permutation: leave it to the auction */
                status = 2;
                break;
            }
            if (s != 0) {
                status = s == 1 ? 1 : -(b + 1);
                break;
            }
            for (int64_t i = 0; i < n; i++)
                for (int64_t e = rowptr[i]; e < rowptr[i + 1]; e++)
                    if (flow[e] > 0.5) assign[i] = col[e];
            /* all pairs: mark the violated ones */
            int64_t added = 0;
            double worst = 0.0, slack = 1e-12 * scale;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++) {
                    double r = ub[i] + vb[j] - C[i * n + j];
                    if (r > worst) worst = r;
                    if (r > slack && !mark[i * n + j]) {
                        mark[i * n + j] = 1;
                        added++;
                    }
                }
            infeasibility[b] = worst;
            if (added == 0) break;
            if (added > n / 8 || round >= 2) { /* the nearest partners are a poor guess here: leave it to the auction */
                status = 2;
                break;
            }
            warm = 1;
        }
    }
out:
    free(Ct); free(mark); free(rowptr); free(colptr); free(col); free(erow); free(cedge);
    free(cost); free(flow); free(ones); free(vals); free(idx);
    return status;
}

/* C[i, j] = |x_i - y_j|^2 for two clouds of n points in d dimensions. */
static void squared_distances(int64_t n, int64_t d, const double *x, const double *y, double *C)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t a = 0; a < d; a++) {
                double t = x[i * d + a] - y[j * d + a];
                s += t * t;
            }
            C[i * n + j] = s;
        }
}

/*
 * The same for clouds X, Y (B, n, d), cost |x - y|^2 built per problem; with
 * k > 0, the sparse variant on the k nearest partners (for low dimensions).
 */
int64_t lagot_batch_assign(int64_t b0, int64_t b1, int64_t n, int64_t d, const double *X, const double *Y,
                           int64_t k, int64_t *col4row, double *u, double *v, double *infeasibility)
{
    double *C = (double *)malloc((size_t)(n * n) * sizeof(double));
    if (!C) return 1;
    int64_t status = 0;
    for (int64_t b = b0; b < b1 && status == 0; b++) {
        squared_distances(n, d, X + b * n * d, Y + b * n * d, C);
        status = k > 0 ? sparse_assign_costs(0, 1, n, C, k, col4row + b * n, u + b * n, v + b * n, infeasibility + b)
                       : 2;
        if (status == 2) /* dense, or the sparse guess gave up */
            status = lagot_batch_assign_costs(0, 1, n, C, col4row + b * n, u + b * n, v + b * n, infeasibility + b);
        if (status < 0) status = -(b + 1);
    }
    free(C);
    return status;
}
