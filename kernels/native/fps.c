/*
 * Farthest-point sampling: choose n of the P points greedily, each the one
 * farthest from those already chosen (squared Euclidean distance, d dims).
 * O(n P d) time, O(P) memory.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

int64_t lagot_farthest_points(int64_t P, int64_t d, const double *points, int64_t n, int64_t start,
                              int64_t *chosen)
{
    double *dist = (double *)malloc((size_t)P * sizeof(double));
    if (!dist) return 1;
    for (int64_t p = 0; p < P; p++) dist[p] = INFINITY;
    int64_t idx = start;
    for (int64_t k = 0; k < n; k++) {
        chosen[k] = idx;
        const double *c = points + idx * d;
        double best = -1.0;
        int64_t arg = 0;
        for (int64_t p = 0; p < P; p++) {
            const double *q = points + p * d;
            double s = 0.0;
            for (int64_t a = 0; a < d; a++) {
                double t = q[a] - c[a];
                s += t * t;
            }
            if (s < dist[p]) dist[p] = s;
            if (dist[p] > best) {
                best = dist[p];
                arg = p;
            }
        }
        idx = arg;
    }
    free(dist);
    return 0;
}
