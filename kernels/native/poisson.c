/*
 * Greedy Poisson-disk selection in the plane: visit candidates in the given
 * order and accept one when no accepted point lies closer than r. The result
 * is a maximal r-packing of the candidates: evenly spread, with the same
 * density everywhere (unlike truncated farthest-point sampling, whose last,
 * unfinished sweep leaves regions at two densities).
 *
 * A background grid of cell size r / sqrt(2) holds at most one accepted point
 * per cell, so each test looks at 5 x 5 cells: O(P) time.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

int64_t lagot_poisson_disk(int64_t P, const double *points, const int64_t *order, double r,
                           int64_t *accepted)
{
    double xmin = INFINITY, ymin = INFINITY, xmax = -INFINITY, ymax = -INFINITY;
    for (int64_t p = 0; p < P; p++) {
        double x = points[2 * p], y = points[2 * p + 1];
        if (x < xmin) xmin = x;
        if (x > xmax) xmax = x;
        if (y < ymin) ymin = y;
        if (y > ymax) ymax = y;
    }
    double h = r / sqrt(2.0);
    int64_t W = (int64_t)((xmax - xmin) / h) + 1, H = (int64_t)((ymax - ymin) / h) + 1;
    if (W * H > ((int64_t)1 << 28)) return -2; /* radius too small for this extent */
    int64_t *cell = (int64_t *)malloc((size_t)(W * H) * sizeof(int64_t));
    if (!cell) return -1;
    for (int64_t c = 0; c < W * H; c++) cell[c] = -1;
    double r2 = r * r;
    int64_t count = 0;
    for (int64_t q = 0; q < P; q++) {
        int64_t p = order[q];
        double x = points[2 * p], y = points[2 * p + 1];
        int64_t cx = (int64_t)((x - xmin) / h), cy = (int64_t)((y - ymin) / h);
        int ok = 1;
        for (int64_t j = cy - 2; j <= cy + 2 && ok; j++) {
            if (j < 0 || j >= H) continue;
            for (int64_t i = cx - 2; i <= cx + 2; i++) {
                if (i < 0 || i >= W) continue;
                int64_t o = cell[j * W + i];
                if (o < 0) continue;
                double dx = points[2 * o] - x, dy = points[2 * o + 1] - y;
                if (dx * dx + dy * dy < r2) {
                    ok = 0;
                    break;
                }
            }
        }
        if (ok) {
            cell[cy * W + cx] = p;
            accepted[count++] = p;
        }
    }
    free(cell);
    return count;
}
