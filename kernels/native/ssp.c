/*
 * Minimum-cost transportation on a sparse bipartite graph by successive
 * shortest paths (Dijkstra on reduced costs, Johnson potentials). The exact
 * solver uses it for the first solve of assignment problems (unit amounts),
 * where it is fastest; simplex.c serves every other case and the restarts.
 *
 * Problem:   min sum_e cost[e] * flow[e]
 *            s.t. sum_{e from i} flow[e] = supply[i],  sum_{e into j} flow[e] = demand[j],
 *                 flow >= 0, only on the given edges.
 * Dual:      u[i] + v[j] <= cost[e] for every edge e = (i, j),
 *            with equality wherever flow[e] > 0 (complementary slackness).
 *
 * Edges are given twice: by source (CSR: rowptr, col) and by sink (colptr,
 * cedge = edge ids grouped by sink). erow[e] is the source of edge e.
 *
 * The solver keeps reduced costs r[e] = cost[e] - u[i] - v[j] >= 0 on all edges
 * and r[e] = 0 on edges that carry flow. It works in phases (primal-dual):
 * one Dijkstra from all sources with remaining supply at once, to the nearest
 * sink with remaining demand, moves the potentials of the settled nodes so
 * that every shortest path becomes tight, pushes the path found, then routes
 * as much as it can along tight arcs by depth-first augmenting paths (a
 * blocking flow; nodes that lead nowhere are skipped for the rest of a sweep,
 * and sweeps repeat until one routes nothing). One phase serves many sources: a plateau of tight arcs is explored
 * once per phase instead of once per source, which is what weighted problems
 * (non-unit supplies, many augmentations per source) need. A first pass
 * serves the sources one at a time while their nearest open sink is within
 * max(1024, (n + m) / 4) settled nodes (scattered clouds and shifted ones,
 * where single-source searches stay cheap); the phases take the rest. Amounts are
 * doubles; with integral supplies and demands every flow stays integral, so an
 * assignment problem yields a permutation. "Tight" allows 64 ulps of the
 * largest cost or potential (rounding of the potential updates).
 *
 * Amounts below tol count as zero: rounding residues of real-valued supplies
 * are left unrouted once no sink has demand above tol.
 *
 * Return value: 0 on success; 1 when memory ran out; -(s + 1) when source s
 * has remaining supply but no sink with remaining demand is reachable in the
 * graph (the caller adds edges and calls again).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double key;
    int64_t node;
} heap_item;

typedef struct {
    heap_item *items;
    int64_t size;
    int64_t cap;
} heap;

static int heap_push(heap *h, double key, int64_t node) {
    if (h->size == h->cap) {
        int64_t cap = h->cap ? 2 * h->cap : 1024;
        heap_item *items = (heap_item *)realloc(h->items, (size_t)cap * sizeof(heap_item));
        if (!items) return -1;
        h->items = items;
        h->cap = cap;
    }
    int64_t k = h->size++;
    while (k > 0) {
        int64_t parent = (k - 1) / 2;
        if (h->items[parent].key <= key) break;
        h->items[k] = h->items[parent];
        k = parent;
    }
    h->items[k].key = key;
    h->items[k].node = node;
    return 0;
}

static heap_item heap_pop(heap *h) {
    heap_item top = h->items[0];
    heap_item last = h->items[--h->size];
    int64_t k = 0;
    for (;;) {
        int64_t child = 2 * k + 1;
        if (child >= h->size) break;
        if (child + 1 < h->size && h->items[child + 1].key < h->items[child].key) child++;
        if (h->items[child].key >= last.key) break;
        h->items[k] = h->items[child];
        k = child;
    }
    if (h->size > 0) h->items[k] = last;
    return top;
}

/*
 * Augmenting row reduction (Jonker-Volgenant) for assignment problems (all
 * supplies and demands 1): free rows bid for their best column, lowering its
 * potential by the margin to their second best and evicting its owner; two
 * sweeps over the free rows. It keeps u_i + v_j <= cost on every edge and
 * equality on the assigned ones, and leaves few rows for the shortest paths.
 */
static void row_reduction(int64_t n, int64_t m, const int64_t *rowptr, const int64_t *col,
                          const double *cost, double *v, double *flow, double *excess, double *deficit)
{
    int64_t *row4col = (int64_t *)malloc((size_t)m * sizeof(int64_t));
    int64_t *edge4row = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    int64_t *freeq = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    if (!row4col || !edge4row || !freeq) goto out;
    for (int64_t j = 0; j < m; j++) row4col[j] = -1;
    int64_t nfree = 0;
    for (int64_t i = 0; i < n; i++) {
        edge4row[i] = -1;
        freeq[nfree++] = i;
    }
    int64_t budget = 20 * (n + 16);
    for (int sweep = 0; sweep < 2 && nfree > 0; sweep++) {
        int64_t k = 0, previous = nfree;
        nfree = 0;
        while (k < previous && budget-- > 0) {
            int64_t i = freeq[k++];
            double u1 = INFINITY, u2 = INFINITY;
            int64_t e1 = -1, e2 = -1;
            for (int64_t e = rowptr[i]; e < rowptr[i + 1]; e++) {
                double r = cost[e] - v[col[e]];
                if (r < u2) {
                    if (r < u1) {
                        u2 = u1;
                        e2 = e1;
                        u1 = r;
                        e1 = e;
                    } else {
                        u2 = r;
                        e2 = e;
                    }
                }
            }
            if (e1 < 0) continue;
            int64_t j1 = col[e1];
            int64_t owner = row4col[j1];
            int strict = u1 < u2 && isfinite(u2);
            if (strict) {
                v[j1] -= u2 - u1;
            } else if (owner >= 0) {
                if (e2 < 0 || row4col[col[e2]] >= 0) { /* nothing free to take: leave i for later */
                    freeq[nfree++] = i;
                    continue;
                }
                e1 = e2;
                j1 = col[e1];
                owner = -1;
            }
            row4col[j1] = i;
            edge4row[i] = e1;
            if (owner >= 0) {
                edge4row[owner] = -1;
                if (strict) freeq[--k] = owner;
                else freeq[nfree++] = owner;
            }
        }
        while (k < previous) freeq[nfree++] = freeq[k++]; /* budget exhausted */
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t e = edge4row[i];
        if (e < 0) continue;
        flow[e] = 1.0;
        excess[i] -= 1.0;
        deficit[col[e]] -= 1.0;
    }
out:
    free(row4col);
    free(edge4row);
    free(freeq);
}

int64_t lagot_ssp_transport(
    int64_t n, int64_t m,
    const int64_t *rowptr, const int64_t *col,
    const int64_t *colptr, const int64_t *cedge, const int64_t *erow,
    const double *cost,
    const double *supply, const double *demand,
    double tol,
    double *u, double *v,
    double *flow,
    int64_t *stats)
{
    const int64_t N = n + m; /* sources 0..n-1, sinks n..n+m-1 */
    double *excess = (double *)malloc((size_t)n * sizeof(double));
    double *deficit = (double *)malloc((size_t)m * sizeof(double));
    double *dist = (double *)malloc((size_t)N * sizeof(double));
    int64_t *pred = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    char *settled = (char *)calloc((size_t)N, 1);
    int64_t *touched = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    int64_t *active = (int64_t *)malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t *stack = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *via = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *cur = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    int64_t *cphase = (int64_t *)calloc((size_t)N, sizeof(int64_t));
    int64_t *mark = (int64_t *)calloc((size_t)N, sizeof(int64_t));
    char *onpath = (char *)calloc((size_t)N, 1);
    heap h = {0, 0, 0};
    int64_t status = 0;
    int64_t augmentations = 0, scanned = 0, sweep = 0;

    if (!excess || !deficit || !dist || !pred || !settled || !touched || !active || !stack || !via || !cur
        || !cphase || !mark || !onpath) {
        status = 1; /* out of memory */
        goto done;
    }
    for (int64_t w = 0; w < N; w++) dist[w] = INFINITY;

    /* Feasible duals: u_i = min over the edges of i of (cost - v_j). */
    for (int64_t i = 0; i < n; i++) {
        double best = INFINITY;
        for (int64_t e = rowptr[i]; e < rowptr[i + 1]; e++) {
            double r = cost[e] - v[col[e]];
            if (r < best) best = r;
        }
        u[i] = isfinite(best) ? best : 0.0;
    }
    for (int64_t i = 0; i < n; i++) excess[i] = supply[i];
    for (int64_t j = 0; j < m; j++) deficit[j] = demand[j];
    for (int64_t e = 0; e < rowptr[n]; e++) flow[e] = 0.0;

    if (n == m) {
        int unit = 1;
        for (int64_t i = 0; i < n && unit; i++) unit = supply[i] == 1.0 && demand[i] == 1.0;
        if (unit) {
            row_reduction(n, m, rowptr, col, cost, v, flow, excess, deficit);
            for (int64_t i = 0; i < n; i++) { /* duals again, for the new v */
                double best = INFINITY;
                for (int64_t e = rowptr[i]; e < rowptr[i + 1]; e++) {
                    double r = cost[e] - v[col[e]];
                    if (r < best) best = r;
                }
                u[i] = isfinite(best) ? best : 0.0;
            }
        }
    }

    /* Greedy start along tight edges. */
    for (int64_t i = 0; i < n; i++) {
        for (int64_t e = rowptr[i]; e < rowptr[i + 1] && excess[i] > tol; e++) {
            int64_t j = col[e];
            if (deficit[j] <= tol) continue;
            if (cost[e] - v[j] > u[i]) continue; /* not tight (same arithmetic as u) */
            double delta = excess[i] < deficit[j] ? excess[i] : deficit[j];
            flow[e] += delta;
            excess[i] -= delta;
            deficit[j] -= delta;
        }
    }

    int64_t open = 0; /* sinks with remaining demand */
    for (int64_t j = 0; j < m; j++) open += deficit[j] > tol;
    /* First pass: one source at a time, each Dijkstra limited to `reach` settled nodes
       (cheap while open sinks are near: scattered clouds); sources whose search runs
       out are left to the phases below (plateaus of tight arcs: grids, histograms). */
    const int64_t reach = N / 4 > 1024 ? N / 4 : 1024;
    for (int64_t s = 0; s < n && open > 0; s++) {
        while (excess[s] > tol && open > 0) {
            int64_t ntouched = 0, target = -1, count = 0;
            double D = 0.0;
            h.size = 0;
            dist[s] = 0.0;
            pred[s] = -1;
            touched[ntouched++] = s;
            if (heap_push(&h, 0.0, s)) { status = 1; goto done; }
            while (h.size > 0 && count < reach) {
                heap_item it = heap_pop(&h);
                int64_t w = it.node;
                if (settled[w] || it.key > dist[w]) continue;
                settled[w] = 1;
                count++;
                scanned++;
                double d = it.key;
                if (w >= n) {
                    int64_t j = w - n;
                    if (deficit[j] > tol) { target = w; D = d; break; }
                    for (int64_t q = colptr[j]; q < colptr[j + 1]; q++) {
                        int64_t e = cedge[q];
                        if (flow[e] <= tol) continue;
                        int64_t i = erow[e];
                        if (settled[i]) continue;
                        double nd = d - (cost[e] - u[i] - v[j]);
                        if (nd < d) nd = d;
                        if (nd < dist[i]) {
                            if (!isfinite(dist[i])) touched[ntouched++] = i;
                            dist[i] = nd;
                            pred[i] = e;
                            if (heap_push(&h, nd, i)) { status = 1; goto done; }
                        }
                    }
                } else {
                    for (int64_t e = rowptr[w]; e < rowptr[w + 1]; e++) {
                        int64_t t = n + col[e];
                        if (settled[t]) continue;
                        double r = cost[e] - u[w] - v[col[e]];
                        double nd = d + (r > 0.0 ? r : 0.0);
                        if (nd < dist[t]) {
                            if (!isfinite(dist[t])) touched[ntouched++] = t;
                            dist[t] = nd;
                            pred[t] = e;
                            if (heap_push(&h, nd, t)) { status = 1; goto done; }
                        }
                    }
                }
            }
            if (target >= 0) {
                for (int64_t q = 0; q < ntouched; q++) {
                    int64_t w = touched[q];
                    if (settled[w] && dist[w] < D) {
                        if (w < n) u[w] += D - dist[w];
                        else v[w - n] -= D - dist[w];
                    }
                }
                double delta = excess[s] < deficit[target - n] ? excess[s] : deficit[target - n];
                for (int64_t w = target;;) {
                    int64_t i = erow[pred[w]];
                    if (i == s) break;
                    if (flow[pred[i]] < delta) delta = flow[pred[i]];
                    w = n + col[pred[i]];
                }
                for (int64_t w = target;;) {
                    int64_t i = erow[pred[w]];
                    flow[pred[w]] += delta;
                    if (i == s) break;
                    flow[pred[i]] -= delta;
                    w = n + col[pred[i]];
                }
                excess[s] -= delta;
                deficit[target - n] -= delta;
                if (deficit[target - n] <= tol) open--;
                augmentations++;
            }
            for (int64_t q = 0; q < ntouched; q++) {
                dist[touched[q]] = INFINITY;
                settled[touched[q]] = 0;
            }
            if (target < 0) break; /* too far: left to the phases */
        }
    }

    int64_t nactive = 0; /* sources with remaining supply */
    for (int64_t i = 0; i < n; i++)
        if (excess[i] > tol) active[nactive++] = i;

    /* Admissibility tolerance: reduced costs within rounding of zero. */
    double scale = 0.0;
    for (int64_t e = 0; e < rowptr[n]; e++) scale = fmax(scale, fabs(cost[e]));
    for (int64_t j = 0; j < m; j++) scale = fmax(scale, fabs(v[j]));
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(u[i]));
    const double adm = 64.0 * DBL_EPSILON * (scale + 1e-300);

    while (nactive > 0 && open > 0) {
        /* 1. Dijkstra from all sources with supply at once, to the nearest open sink. */
        int64_t ntouched = 0, target = -1;
        double D = 0.0;
        h.size = 0;
        for (int64_t q = 0; q < nactive; q++) {
            int64_t s = active[q];
            dist[s] = 0.0;
            pred[s] = -1;
            touched[ntouched++] = s;
            if (heap_push(&h, 0.0, s)) { status = 1; goto done; }
        }
        while (h.size > 0) {
            heap_item it = heap_pop(&h);
            int64_t w = it.node;
            if (settled[w] || it.key > dist[w]) continue;
            settled[w] = 1;
            scanned++;
            double d = it.key;
            if (w >= n) {
                int64_t j = w - n;
                if (deficit[j] > tol) { target = w; D = d; break; }
                for (int64_t q = colptr[j]; q < colptr[j + 1]; q++) {
                    int64_t e = cedge[q];
                    if (flow[e] <= tol) continue;
                    int64_t i = erow[e];
                    if (settled[i]) continue;
                    double r = cost[e] - u[i] - v[j];
                    double nd = d - r;
                    if (nd < d) nd = d;
                    if (nd < dist[i]) {
                        if (!isfinite(dist[i])) touched[ntouched++] = i;
                        dist[i] = nd;
                        pred[i] = e;
                        if (heap_push(&h, nd, i)) { status = 1; goto done; }
                    }
                }
            } else {
                int64_t i = w;
                for (int64_t e = rowptr[i]; e < rowptr[i + 1]; e++) {
                    int64_t t = n + col[e];
                    if (settled[t]) continue;
                    double r = cost[e] - u[i] - v[col[e]];
                    double nd = d + (r > 0.0 ? r : 0.0);
                    if (nd < dist[t]) {
                        if (!isfinite(dist[t])) touched[ntouched++] = t;
                        dist[t] = nd;
                        pred[t] = e;
                        if (heap_push(&h, nd, t)) { status = 1; goto done; }
                    }
                }
            }
        }
        if (target < 0) {
            status = -(active[0] + 1);
            goto done;
        }
        /* Move potentials of settled nodes closer than the target: the shortest paths become tight. */
        for (int64_t q = 0; q < ntouched; q++) {
            int64_t w = touched[q];
            if (settled[w] && dist[w] < D) {
                if (w < n) u[w] += D - dist[w];
                else v[w - n] -= D - dist[w];
            }
        }
        /* 2. The shortest path found: walk back to its source, push its bottleneck. */
        {
            int64_t s = -1;
            double delta = deficit[target - n];
            for (int64_t w = target;;) {
                int64_t i = erow[pred[w]];
                int64_t eb = pred[i];
                if (eb < 0) { s = i; break; }
                if (flow[eb] < delta) delta = flow[eb];
                w = n + col[eb];
            }
            if (excess[s] < delta) delta = excess[s];
            for (int64_t w = target;;) {
                int64_t i = erow[pred[w]];
                flow[pred[w]] += delta;
                int64_t eb = pred[i];
                if (eb < 0) break;
                flow[eb] -= delta;
                w = n + col[eb];
            }
            excess[s] -= delta;
            deficit[target - n] -= delta;
            if (deficit[target - n] <= tol) open--;
            augmentations++;
        }
        for (int64_t q = 0; q < ntouched; q++) {
            dist[touched[q]] = INFINITY;
            settled[touched[q]] = 0;
        }
        /* 3. Blocking flow on the tight arcs: depth-first augmenting paths from every
           source with supply (forward arcs with zero reduced cost, backward arcs with flow).
           After an augmentation the search backs up only to the first arc it emptied.
           Nodes that lead nowhere are skipped for the rest of the sweep; sweeps repeat
           until one routes nothing (a skipped node may have been blocked by the path). */
        for (;;) {
            sweep++;
            int64_t before = augmentations;
            for (int64_t q = 0; q < nactive && open > 0; q++) {
                int64_t s = active[q];
                if (excess[s] <= tol || mark[s] == sweep) continue;
                int64_t depth = 0;
                stack[0] = s;
                onpath[s] = 1;
                if (cphase[s] != sweep) { cphase[s] = sweep; cur[s] = rowptr[s]; }
                while (depth >= 0 && excess[s] > tol && open > 0) {
                    int64_t w = stack[depth];
                    int64_t next = -1;
                    if (w >= n && deficit[w - n] > tol) { /* augment along via[0 .. depth - 1] */
                        double delta = excess[s] < deficit[w - n] ? excess[s] : deficit[w - n];
                        for (int64_t k = 1; k < depth; k += 2) /* backward arcs: sink -> source */
                            if (flow[via[k]] < delta) delta = flow[via[k]];
                        for (int64_t k = 0; k < depth; k++) flow[via[k]] += (k % 2 == 0) ? delta : -delta;
                        excess[s] -= delta;
                        deficit[w - n] -= delta;
                        if (deficit[w - n] <= tol) open--;
                        augmentations++;
                        for (int64_t k = 1; k < depth; k += 2) {
                            if (flow[via[k]] > tol) continue;
                            for (int64_t r = k + 1; r <= depth; r++) onpath[stack[r]] = 0;
                            depth = k; /* back to the sink whose backward arc emptied */
                            break;
                        }
                        continue;
                    }
                    if (w >= n) {
                        int64_t j = w - n;
                        for (; cur[w] < colptr[j + 1]; cur[w]++) {
                            int64_t e = cedge[cur[w]];
                            int64_t i = erow[e];
                            if (flow[e] <= tol || onpath[i] || mark[i] == sweep) continue;
                            if (cost[e] - u[i] - v[j] < -adm) continue;
                            next = i;
                            via[depth] = e;
                            break;
                        }
                    } else {
                        for (; cur[w] < rowptr[w + 1]; cur[w]++) {
                            int64_t t = n + col[cur[w]];
                            if (onpath[t] || mark[t] == sweep) continue;
                            if (cost[cur[w]] - u[w] - v[col[cur[w]]] > adm) continue;
                            next = t;
                            via[depth] = cur[w];
                            break;
                        }
                    }
                    if (next < 0) { /* dead end */
                        mark[w] = sweep;
                        onpath[w] = 0;
                        depth--;
                        if (depth >= 0) cur[stack[depth]]++;
                        continue;
                    }
                    if (cphase[next] != sweep) {
                        cphase[next] = sweep;
                        cur[next] = next >= n ? colptr[next - n] : rowptr[next];
                    }
                    stack[++depth] = next;
                    onpath[next] = 1;
                }
                for (int64_t k = 0; k <= depth; k++) onpath[stack[k]] = 0;
            }
            if (augmentations == before || open == 0) break;
        }
        int64_t kept = 0;
        for (int64_t q = 0; q < nactive; q++)
            if (excess[active[q]] > tol) active[kept++] = active[q];
        nactive = kept;
    }

done:
    if (stats) {
        stats[0] = augmentations;
        stats[1] = scanned;
    }
    free(excess);
    free(deficit);
    free(dist);
    free(pred);
    free(settled);
    free(touched);
    free(active);
    free(stack);
    free(via);
    free(cur);
    free(cphase);
    free(mark);
    free(onpath);
    free(h.items);
    return status;
}
