/*
 * Batched assignment between equal-size clouds (n x n, small n): for each
 * problem, sparse shortest paths (ssp.c) on the nearest partners of every row
 * and column, then a check of all n^2 pairs; violated pairs join the graph and
 * the solve resumes warm. On return u_i + v_j <= C_ij up to the reported
 * rounding, with equality on the assignment.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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
 * Batched assignment between equal-size clouds by sparse shortest paths:
 * per problem, the k nearest partners of every row and column form the graph,
 * the transportation solver (ssp.c, with row reduction) solves it, and all
 * n^2 pairs are checked; violated pairs join the graph and the solve resumes
 * warm. Returns per problem the assignment, duals u, v and the largest dual
 * violation left (rounding), as lap_points does.
 */
int64_t lagot_batch_assign_costs(int64_t b0, int64_t b1, int64_t n, const double *costs, int64_t k,
                                 int64_t *col4row, double *u, double *v, double *infeasibility);

int64_t lagot_batch_assign(int64_t b0, int64_t b1, int64_t n, int64_t d, const double *X, const double *Y,
                           int64_t k, int64_t *col4row, double *u, double *v, double *infeasibility)
{
    double *C = (double *)malloc((size_t)(n * n) * sizeof(double));
    if (!C) return 1;
    int64_t status = 0;
    for (int64_t b = b0; b < b1 && status == 0; b++) {
        squared_distances(n, d, X + b * n * d, Y + b * n * d, C);
        status = lagot_batch_assign_costs(0, 1, n, C, k, col4row + b * n, u + b * n, v + b * n, infeasibility + b);
        if (status < 0) status = -(b + 1);
    }
    free(C);
    return status;
}

/* The same on given cost matrices costs (B, n, n). */
int64_t lagot_batch_assign_costs(int64_t b0, int64_t b1, int64_t n, const double *costs, int64_t k,
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
        int64_t kk = k;
        mark_smallest(n, kk, C, n, 1, mark, vals, idx, 0); /* rows */
        mark_smallest(n, kk, Ct, n, 1, mark, vals, idx, 1); /* columns, from the transpose */
        for (int64_t i = 0; i < n; i++) {
            vb[i] = 0.0;
            assign[i] = -1;
        }
        int warm = 0;
        for (int round = 0; round < 64; round++) {
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
            if (s < 0 && kk < n) { /* the graph cannot carry a permutation: widen it */
                kk = 2 * kk < n ? 2 * kk : n;
                mark_smallest(n, kk, C, n, 1, mark, vals, idx, 0);
                mark_smallest(n, kk, Ct, n, 1, mark, vals, idx, 1);
                for (int64_t i = 0; i < n; i++) vb[i] = 0.0;
                warm = 0;
                continue;
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
            warm = 1;
        }
    }
out:
    free(Ct); free(mark); free(rowptr); free(colptr); free(col); free(erow); free(cedge);
    free(cost); free(flow); free(ones); free(vals); free(idx);
    return status;
}
