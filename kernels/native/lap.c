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
    for (int64_t j = 0; j < n; j++) {
        double best = INFINITY;
        for (int64_t i = 0; i < n; i++)
            if (C[i * n + j] < best) best = C[i * n + j];
        v[j] = best;
        row4col[j] = -1;
    }
    for (int64_t i = 0; i < n; i++) {
        double best = INFINITY;
        int64_t arg = -1;
        for (int64_t j = 0; j < n; j++) {
            double r = C[i * n + j] - v[j];
            if (r < best || (r == best && arg >= 0 && row4col[arg] >= 0 && row4col[j] < 0)) {
                best = r;
                arg = j;
            }
        }
        u[i] = best;
        col4row[i] = -1;
        if (arg >= 0 && row4col[arg] < 0) {
            row4col[arg] = i;
            col4row[i] = arg;
        }
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
