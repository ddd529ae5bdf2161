/*
 * Turn an optimal transport plan into a basic one: a support without cycles
 * (a forest, at most n + m - 1 edges) with the same marginals and cost.
 *
 * All support edges of an optimal plan have zero reduced cost, so moving mass
 * around a cycle of the support changes nothing but the support. Edges are
 * added to a spanning forest one by one; an edge that closes a cycle pushes
 * mass around that cycle until an edge of it empties, and that edge leaves.
 * Nodes: sources 0..n-1, sinks n..n+m-1. Returns 0, or 1 when out of memory.
 */
#include <stdint.h>
#include <stdlib.h>

static int64_t find(int64_t *parent, int64_t a) {
    while (parent[a] != a) {
        parent[a] = parent[parent[a]];
        a = parent[a];
    }
    return a;
}

int64_t lagot_make_basic(int64_t n, int64_t m, int64_t K, const int64_t *src, const int64_t *dst,
                         double *mass)
{
    int64_t N = n + m;
    int64_t *parent = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    int64_t *head = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    int64_t *next = (int64_t *)malloc((size_t)(2 * K + 1) * sizeof(int64_t));
    int64_t *to = (int64_t *)malloc((size_t)(2 * K + 1) * sizeof(int64_t));
    int64_t *eid = (int64_t *)malloc((size_t)(2 * K + 1) * sizeof(int64_t));
    char *alive = (char *)calloc((size_t)K + 1, 1);
    int64_t *via = (int64_t *)malloc((size_t)N * sizeof(int64_t)); /* edge reaching a node in the search */
    int64_t *stack = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    int64_t *seen = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    int64_t *path = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    int64_t status = 0, slots = 0, stamp = 0;
    if (!parent || !head || !next || !to || !eid || !alive || !via || !stack || !seen || !path) {
        status = 1;
        goto out;
    }
    for (int64_t a = 0; a < N; a++) {
        parent[a] = a;
        head[a] = -1;
        seen[a] = -1;
    }
    for (int64_t e = 0; e < K; e++) {
        if (!(mass[e] > 0.0)) continue;
        int64_t i = src[e], j = n + dst[e];
        int64_t ri = find(parent, i), rj = find(parent, j);
        if (ri != rj) {
            parent[ri] = rj;
        } else {
            /* depth-first search from i to j along live forest edges */
            stamp++;
            int64_t top = 0;
            stack[top++] = i;
            seen[i] = stamp;
            via[i] = -1;
            while (top > 0) {
                int64_t a = stack[--top];
                if (a == j) break;
                for (int64_t s = head[a]; s >= 0; s = next[s]) {
                    if (!alive[eid[s]]) continue;
                    int64_t b = to[s];
                    if (seen[b] == stamp) continue;
                    seen[b] = stamp;
                    via[b] = eid[s];
                    stack[top++] = b;
                }
            }
            /* path edges from j back to i: p_1 (at j) ... p_L (at i); signs alternate,
               the new edge e loses mass, the path edge next to it gains, and so on */
            int64_t L = 0;
            for (int64_t a = j; a != i;) {
                int64_t f = via[a];
                path[L++] = f;
                a = (n + dst[f] == a) ? src[f] : n + dst[f];
            }
            double delta = mass[e];
            int64_t leaving = e;
            for (int64_t q = 1; q < L; q += 2) { /* every second path edge loses mass */
                if (mass[path[q]] < delta) {
                    delta = mass[path[q]];
                    leaving = path[q];
                }
            }
            mass[e] -= delta;
            for (int64_t q = 0; q < L; q++) mass[path[q]] += (q % 2 == 0) ? delta : -delta;
            mass[leaving] = 0.0;
            if (leaving == e) continue;
            alive[leaving] = 0;
        }
        alive[e] = 1;
        to[slots] = j; eid[slots] = e; next[slots] = head[i]; head[i] = slots++;
        to[slots] = i; eid[slots] = e; next[slots] = head[j]; head[j] = slots++;
    }
out:
    free(parent); free(head); free(next); free(to); free(eid); free(alive);
    free(via); free(stack); free(seen); free(path);
    return status;
}
