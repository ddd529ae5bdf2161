/*
 * Dense linear assignment (square, n x n costs) by shortest augmenting paths
 * (Jonker-Volgenant / Crouse), for batches of small problems.
 *
 * Start: column reduction v_j = min_i C_ij, u_i = min_j (C_ij - v_j), and a
 * greedy assignment along tight pairs. Then every free row is joined by a
 * Dijkstra search over the columns in reduced costs (dense arrays, O(n) per
 * scanned row), followed by the dual update and the augmentation. On return
 * u_i + v_j <= C_ij for all pairs, with equality on the assignment.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static int solve_one(int64_t n, const double *C, int64_t *col4row, double *u, double *v,
                     int64_t *row4col, double *shortest, int64_t *path, char *SR, char *SC,
                     int64_t *remaining, int64_t *visited_rows)
{
    /* Column reduction: v_j = min_i C_ij, and the minimising row takes j if it is free. */
    for (int64_t i = 0; i < n; i++) col4row[i] = -1;
    for (int64_t j = n - 1; j >= 0; j--) {
        double best = INFINITY;
        int64_t arg = 0;
        for (int64_t i = 0; i < n; i++)
            if (C[i * n + j] < best) {
                best = C[i * n + j];
                arg = i;
            }
        v[j] = best;
        row4col[j] = -1;
        if (col4row[arg] < 0) {
            col4row[arg] = j;
            row4col[j] = arg;
        }
    }
    /* Augmenting row reduction: two sweeps of bids by the free rows. */
    int64_t nfree = 0;
    for (int64_t i = 0; i < n; i++)
        if (col4row[i] < 0) remaining[nfree++] = i; /* the free list */
    int64_t budget = 20 * (n + 16);
    for (int sweep = 0; sweep < 2 && nfree > 0; sweep++) {
        int64_t k = 0, previous = nfree;
        nfree = 0;
        while (k < previous && budget-- > 0) {
            int64_t i = remaining[k++];
            const double *Ci = C + i * n;
            double u1 = INFINITY, u2 = INFINITY;
            int64_t j1 = -1, j2 = -1;
            for (int64_t j = 0; j < n; j++) {
                double r = Ci[j] - v[j];
                if (r < u2) {
                    if (r < u1) {
                        u2 = u1;
                        j2 = j1;
                        u1 = r;
                        j1 = j;
                    } else {
                        u2 = r;
                        j2 = j;
                    }
                }
            }
            if (j1 < 0) return -1;
            int64_t owner = row4col[j1];
            int strict = u1 < u2 && j2 >= 0;
            if (strict) {
                v[j1] -= u2 - u1;
            } else if (owner >= 0) {
                if (j2 < 0 || row4col[j2] >= 0) {
                    remaining[nfree++] = i;
                    continue;
                }
                j1 = j2;
                owner = -1;
            }
            row4col[j1] = i;
            col4row[i] = j1;
            if (owner >= 0) {
                col4row[owner] = -1;
                if (strict) remaining[--k] = owner;
                else remaining[nfree++] = owner;
            }
        }
        while (k < previous) remaining[nfree++] = remaining[k++];
    }
    for (int64_t i = 0; i < n; i++) { /* duals of the rows: tight on their columns */
        double best = INFINITY;
        const double *Ci = C + i * n;
        for (int64_t j = 0; j < n; j++)
            if (Ci[j] - v[j] < best) best = Ci[j] - v[j];
        u[i] = best;
    }
    for (int64_t cur = 0; cur < n; cur++) {
        if (col4row[cur] >= 0) continue;
        int64_t nrem = n, nvis = 0, sink = -1, i = cur;
        double minval = 0.0;
        for (int64_t j = 0; j < n; j++) {
            remaining[j] = n - 1 - j;
            shortest[j] = INFINITY;
            SC[j] = 0;
        }
        while (sink < 0) {
            SR[i] = 1;
            visited_rows[nvis++] = i;
            double lowest = INFINITY;
            int64_t index = -1;
            const double *Ci = C + i * n;
            double base = minval - u[i];
            for (int64_t it = 0; it < nrem; it++) {
                int64_t j = remaining[it];
                double r = base + Ci[j] - v[j];
                if (r < shortest[j]) {
                    path[j] = i;
                    shortest[j] = r;
                }
                if (shortest[j] < lowest || (shortest[j] == lowest && row4col[j] < 0)) {
                    lowest = shortest[j];
                    index = it;
                }
            }
            minval = lowest;
            if (!isfinite(minval) || index < 0) return -1;
            int64_t j = remaining[index];
            if (row4col[j] < 0) sink = j;
            else i = row4col[j];
            SC[j] = 1;
            remaining[index] = remaining[--nrem];
        }
        u[cur] += minval;
        for (int64_t q = 0; q < nvis; q++) {
            int64_t r = visited_rows[q];
            SR[r] = 0;
            if (r != cur) u[r] += minval - shortest[col4row[r]];
        }
        for (int64_t j = 0; j < n; j++)
            if (SC[j]) v[j] -= minval - shortest[j];
        for (int64_t j = sink;;) {
            int64_t r = path[j];
            row4col[j] = r;
            int64_t prev = col4row[r];
            col4row[r] = j;
            j = prev;
            if (r == cur) break;
        }
    }
    return 0;
}

int64_t lagot_lap_dense(int64_t b0, int64_t b1, int64_t n, const double *costs, int64_t *col4row,
                        double *u, double *v)
{
    int64_t *row4col = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    double *shortest = (double *)malloc((size_t)n * sizeof(double));
    int64_t *path = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    char *SR = (char *)calloc((size_t)n, 1);
    char *SC = (char *)calloc((size_t)n, 1);
    int64_t *remaining = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t *visited = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t status = 0;
    if (!row4col || !shortest || !path || !SR || !SC || !remaining || !visited) {
        status = 1;
    } else {
        for (int64_t b = b0; b < b1 && status == 0; b++) {
            if (solve_one(n, costs + b * n * n, col4row + b * n, u + b * n, v + b * n, row4col,
                          shortest, path, SR, SC, remaining, visited))
                status = -(b + 1);
        }
    }
    free(row4col);
    free(shortest);
    free(path);
    free(SR);
    free(SC);
    free(remaining);
    free(visited);
    return status;
}

/*
 * The same for point clouds: problem b has costs |x_i - y_j|^2 between
 * X[b] (n, d) and Y[b] (n, d), built per problem in a local buffer. Also
 * returns, per problem, the largest dual infeasibility max(u_i + v_j - C_ij)
 * over all pairs (rounding only, for the certificate).
 */
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

int64_t lagot_lap_points(int64_t b0, int64_t b1, int64_t n, int64_t d, const double *X, const double *Y,
                         int64_t *col4row, double *u, double *v, double *infeasibility)
{
    double *C = (double *)malloc((size_t)(n * n) * sizeof(double));
    if (!C) return 1;
    int64_t status = 0;
    for (int64_t b = b0; b < b1 && status == 0; b++) {
        squared_distances(n, d, X + b * n * d, Y + b * n * d, C);
        status = lagot_lap_dense(0, 1, n, C, col4row + b * n, u + b * n, v + b * n);
        if (status < 0) status = -(b + 1);
        double worst = 0.0;
        const double *ub = u + b * n, *vb = v + b * n;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double r = ub[i] + vb[j] - C[i * n + j];
                if (r > worst) worst = r;
            }
        infeasibility[b] = worst;
    }
    free(C);
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
