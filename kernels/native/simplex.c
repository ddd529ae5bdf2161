/*
 * Minimum-cost transportation on a sparse bipartite graph by the primal
 * network simplex method.
 *
 * Problem:   min sum_e cost[e] * flow[e]
 *            s.t. sum_{e from i} flow[e] = supply[i],  sum_{e into j} flow[e] = demand[j],
 *                 flow >= 0, only on the E given arcs (src[e] -> dst[e]).
 * Dual:      u[i] + v[j] <= cost[e] on every arc, with equality on the basis.
 *
 * Nodes: sources 0..n-1, sinks n..n+m-1, and a root N = n + m joined to every
 * node by an artificial arc (arc E + w for node w). A basis is a spanning tree
 * kept as parent / pred (the arc to the parent) / dir (+1 when that arc points
 * to the parent) / thread (preorder successor, circular through the root) /
 * rev (preorder predecessor) / succ (subtree size) / last (last node of the
 * subtree in preorder), with potentials pi: cost + pi[tail] - pi[head] = 0 on
 * tree arcs, so that u[i] = -pi[i] and v[j] = pi[n + j].
 *
 * Start: a breadth-first spanning forest of the given arcs (basis[e] != 0 for
 * e < E: a basis returned earlier, or the support of any plan; basis[E + w] != 0
 * marks w as the root of its tree, as in the basis returned; without arcs,
 * every node alone). Each tree hangs from the root by the artificial arc of
 * its root node, flows computed from the supplies; an arc that would carry less than
 * nothing, or nothing away from the root, is cut and its subtree hung from the
 * root alone. Trees whose supplies do not balance put their excess on the
 * artificial arc at cost BIG (phase 1); the artificial arcs cost the warm
 * potentials given (u0, v0) plus BIG, so the first prices are the warm reduced
 * costs cost - u0 - v0. Once no artificial arc carries flow they all point to
 * the root (a cycle through the root then meets one of them backwards: no
 * pivot puts flow on them), lose BIG, and the potentials are recomputed from
 * the tree (phase 2).
 *
 * Pivots: block search for the most negative reduced cost among the real
 * arcs (blocks of sqrt(E) to 4 sqrt(E) arcs), the leaving arc chosen as the
 * last blocking arc of the cycle from its apex (Cunningham's rule: the tree
 * stays strongly feasible, every arc without flow pointing to the root, so
 * degenerate pivots cannot cycle), then the subtree cut off by the leaving arc
 * is re-hung under the entering arc in O(path length + its size) (the
 * potentials of the rest move instead when the rest is smaller). Amounts are
 * doubles; with integral supplies every flow stays integral. The potentials
 * are recomputed from the tree at the end.
 *
 * Return value: 0 on success; 1 when memory ran out; 2 when the pivot limit
 * was reached (flows and potentials are those of the last basis); 4 on an
 * unbounded cycle (impossible with finite costs); -(w + 1) when the supplies
 * cannot be routed on the arcs (w: a node left with flow on the root).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define UP 1
#define DOWN (-1)

typedef struct {
    int64_t N, E, root;
    int64_t *tail, *head; /* E + N arcs */
    double *cost, *flow;  /* E + N */
    int8_t *basic;        /* E + N: 1 on the tree */
    int64_t *parent, *pred, *thread, *rev, *succ, *last, *path; /* N + 1 */
    int64_t *seg;         /* 2 (N + 1) segment ends */
    int8_t *dir;          /* N + 1 */
    double *pi;           /* N + 1 */
} tree;

/* Potentials from the tree, in preorder (exact up to one rounding per level). */
static void potentials(tree *t) {
    t->pi[t->root] = 0.0;
    for (int64_t w = t->thread[t->root]; w != t->root; w = t->thread[w]) {
        int64_t a = t->pred[w];
        double p = t->pi[t->parent[w]];
        t->pi[w] = t->dir[w] == UP ? p - t->cost[a] : p + t->cost[a];
    }
}

/* Preorder links, subtree sizes and last nodes from the parent pointers. */
static int links(tree *t) {
    int64_t N = t->N, root = t->root;
    int64_t *head = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *next = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *stack = t->path;
    if (!head || !next) {
        free(head);
        free(next);
        return 1;
    }
    for (int64_t w = 0; w <= N; w++) head[w] = -1;
    for (int64_t w = N - 1; w >= 0; w--) { /* children lists, in increasing order */
        int64_t p = t->parent[w];
        next[w] = head[p];
        head[p] = w;
    }
    int64_t top = 0, prev = root;
    stack[top++] = root;
    int64_t *order = t->seg; /* preorder, N + 1 entries */
    int64_t k = 0;
    while (top) {
        int64_t w = stack[--top];
        order[k++] = w;
        if (w != root) {
            t->thread[prev] = w;
            t->rev[w] = prev;
            prev = w;
        }
        /* push children in reverse so the first child comes first */
        int64_t c = head[w], cnt = 0;
        for (; c >= 0; c = next[c]) cnt++;
        int64_t base = top;
        top += cnt;
        for (c = head[w]; c >= 0; c = next[c]) stack[base + --cnt] = c;
    }
    t->thread[prev] = root;
    t->rev[root] = prev;
    for (int64_t i = 0; i < k; i++) t->succ[order[i]] = 1;
    for (int64_t i = k - 1; i > 0; i--) t->succ[t->parent[order[i]]] += t->succ[order[i]];
    for (int64_t i = 0; i < k; i++) t->last[order[i]] = order[i + t->succ[order[i]] - 1];
    free(head);
    free(next);
    return 0;
}

/* Entering arc: the most negative reduced cost in the first block that has one. A reduced
 * cost counts as negative below -rel * (|cost| + |pi_tail| + |pi_head|) - eps: its rounding. */
static int64_t entering(const tree *t, int64_t *next, int64_t block, double rel, double eps) {
    int64_t E = t->E, e = *next, best = -1, left = block;
    double low = -eps;
    const double *pi = t->pi, *cost = t->cost;
    for (int64_t k = 0; k < E; k++) {
        if (!t->basic[e]) {
            double pt = pi[t->tail[e]], ph = pi[t->head[e]], c = cost[e] + pt - ph;
            if (c < low && c < -rel * (fabs(cost[e]) + fabs(pt) + fabs(ph)) - eps) {
                low = c;
                best = e;
            }
        }
        if (++e == E) e = 0;
        if (--left == 0) {
            if (best >= 0) break;
            left = block;
        }
    }
    *next = e;
    return best;
}

/* One pivot on arc `in` (its reduced cost is negative). Returns 0, or 1 if unbounded. */
static int pivot(tree *t, int64_t in) {
    int64_t *parent = t->parent, *succ = t->succ, *pred = t->pred;
    int64_t first = t->tail[in], second = t->head[in];
    int64_t u = first, v = second;
    while (u != v) { /* apex of the cycle */
        if (succ[u] < succ[v]) u = parent[u];
        else v = parent[v];
    }
    int64_t join = u;
    /* Flow runs from the apex down to `first`, along `in`, and up from `second`:
     * the leaving arc is the last blocking one met in that order. */
    double delta = INFINITY;
    int64_t out = -1, side = 0;
    for (u = first; u != join; u = parent[u])
        if (t->dir[u] == UP && t->flow[pred[u]] < delta) {
            delta = t->flow[pred[u]];
            out = u;
            side = 1;
        }
    for (u = second; u != join; u = parent[u])
        if (t->dir[u] == DOWN && t->flow[pred[u]] <= delta) {
            delta = t->flow[pred[u]];
            out = u;
            side = 2;
        }
    if (out < 0) return 1;
    if (delta > 0) {
        t->flow[in] += delta;
        for (u = first; u != join; u = parent[u]) t->flow[pred[u]] -= t->dir[u] * delta;
        for (u = second; u != join; u = parent[u]) t->flow[pred[u]] += t->dir[u] * delta;
    }
    t->flow[pred[out]] = 0.0;
    t->basic[pred[out]] = 0;
    t->basic[in] = 1;
    int64_t u_in = side == 1 ? first : second, v_in = side == 1 ? second : first;

    /* S, the subtree of `out`, leaves the thread. */
    int64_t *thread = t->thread, *rev = t->rev, *last = t->last;
    int64_t size = succ[out], q = parent[out];
    int64_t old_last = last[out], before = rev[out], after = thread[old_last];
    thread[before] = after;
    rev[after] = before;
    for (int64_t w = q; w >= 0 && last[w] == old_last; w = parent[w]) last[w] = before;
    for (int64_t w = q; w != join; w = parent[w]) succ[w] -= size;

    /* S re-rooted at u_in: the path u_in = p0, ..., pk = out reverses, and S in preorder
     * is p0's subtree, then for each p_i the part of its subtree before p_{i-1}'s,
     * then the part after. */
    int64_t *path = t->path, *seg = t->seg, k = 0, ns = 0;
    for (u = u_in;; u = parent[u]) {
        path[k++] = u;
        if (u == out) break;
    }
    seg[ns++] = u_in;
    seg[ns++] = last[u_in];
    for (int64_t i = 1; i < k; i++) {
        int64_t w = path[i], c = path[i - 1];
        seg[ns++] = w;
        seg[ns++] = rev[c];
        if (last[w] != last[c]) {
            seg[ns++] = thread[last[c]];
            seg[ns++] = last[w];
        }
    }
    int64_t new_last = seg[ns - 1];
    for (int64_t s = 1; s + 1 < ns; s += 2) {
        thread[seg[s]] = seg[s + 1];
        rev[seg[s + 1]] = seg[s];
    }
    int64_t nxt = thread[v_in]; /* S goes in right after v_in */
    thread[v_in] = u_in;
    rev[u_in] = v_in;
    thread[new_last] = nxt;
    rev[nxt] = new_last;
    if (last[v_in] == v_in)
        for (int64_t w = v_in; w >= 0 && last[w] == v_in; w = parent[w]) last[w] = new_last;
    for (int64_t w = v_in; w != join; w = parent[w]) succ[w] += size;

    /* parents, tree arcs and subtree sizes along the reversed path */
    for (int64_t i = k - 1; i >= 1; i--) {
        int64_t w = path[i], c = path[i - 1];
        parent[w] = c;
        pred[w] = pred[c];
        t->dir[w] = (int8_t)-t->dir[c];
        succ[w] = size - succ[c];
        last[w] = new_last;
    }
    parent[u_in] = v_in;
    pred[u_in] = in;
    t->dir[u_in] = u_in == t->tail[in] ? UP : DOWN;
    succ[u_in] = size;
    last[u_in] = new_last;

    /* potentials: make `in` tight by moving those of S, or of the rest when it is smaller
     * (only differences of potentials matter) */
    double sigma = t->cost[in] + t->pi[t->tail[in]] - t->pi[t->head[in]];
    if (u_in == t->tail[in]) sigma = -sigma;
    if (2 * size <= t->N + 1) {
        u = u_in;
        for (int64_t i = 0; i < size; i++) {
            t->pi[u] += sigma;
            u = thread[u];
        }
    } else {
        for (u = thread[new_last]; u != u_in; u = thread[u]) t->pi[u] -= sigma;
    }
    return 0;
}

/* Node w hung from the root by its artificial arc, carrying its excess x (toward the root
 * unless negative); the arc costs big plus or minus the warm potential `base` of w. */
static void attach(tree *t, int64_t w, double x, double base, double big, double tol) {
    int64_t a = t->E + w;
    t->parent[w] = t->root;
    t->pred[w] = a;
    t->basic[a] = 1;
    if (x >= -tol) {
        t->tail[a] = w;
        t->head[a] = t->root;
        t->dir[w] = UP;
        t->flow[a] = x > tol ? x : 0.0;
        t->cost[a] = big - base;
    } else {
        t->tail[a] = t->root;
        t->head[a] = w;
        t->dir[w] = DOWN;
        t->flow[a] = -x;
        t->cost[a] = big + base;
    }
}

/* The largest flow on an artificial arc of the tree. */
static double artificial_flow(const tree *t) {
    double most = 0.0;
    for (int64_t w = 0; w < t->N; w++)
        if (t->basic[t->E + w]) most = fmax(most, t->flow[t->E + w]);
    return most;
}

/* Phase 2: artificial arcs without `big`, pointing to the root with zero flow (their cost
 * keeps the node's warm potential), potentials recomputed. */
static void phase_two(tree *t, double big) {
    for (int64_t w = 0; w < t->N; w++) {
        int64_t a = t->E + w;
        t->cost[a] -= big;
        if (t->basic[a] && t->head[a] == w) { /* root -> w: flip it */
            t->tail[a] = w;
            t->head[a] = t->root;
            t->dir[w] = UP;
            t->cost[a] = -t->cost[a];
        }
        t->flow[a] = 0.0;
    }
    potentials(t);
}

int64_t lagot_network_simplex(
    int64_t n, int64_t m, int64_t E, const int64_t *src, const int64_t *dst, const double *cost,
    const double *supply, const double *demand, const double *u0, const double *v0, double tol,
    int64_t max_pivots, int8_t *basis, double *flow, double *u, double *v, int64_t *stats) {
    int64_t N = n + m, A = E + N, status = 0;
    tree t;
    memset(&t, 0, sizeof t);
    t.N = N;
    t.E = E;
    t.root = N;
    t.tail = (int64_t *)malloc((size_t)A * sizeof(int64_t));
    t.head = (int64_t *)malloc((size_t)A * sizeof(int64_t));
    t.cost = (double *)calloc((size_t)A, sizeof(double));
    t.flow = (double *)calloc((size_t)A, sizeof(double));
    t.basic = (int8_t *)calloc((size_t)A, 1);
    t.parent = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    t.pred = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    t.thread = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    t.rev = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    t.succ = (int64_t *)calloc((size_t)(N + 1), sizeof(int64_t));
    t.last = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    t.path = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    t.seg = (int64_t *)malloc((size_t)(2 * N + 2) * sizeof(int64_t));
    t.dir = (int8_t *)malloc((size_t)(N + 1));
    t.pi = (double *)malloc((size_t)(N + 1) * sizeof(double));
    double *net = (double *)malloc((size_t)(N + 1) * sizeof(double));
    int64_t *adj = NULL;
    int64_t *start = (int64_t *)calloc((size_t)(N + 2), sizeof(int64_t));
    if (!t.tail || !t.head || !t.cost || !t.flow || !t.basic || !t.parent || !t.pred ||
        !t.thread || !t.rev || !t.succ || !t.last || !t.path || !t.seg || !t.dir || !t.pi ||
        !net || !start) {
        status = 1;
        goto done;
    }
    double cmax = 0.0, warm = 0.0;
    for (int64_t e = 0; e < E; e++) {
        t.tail[e] = src[e];
        t.head[e] = n + dst[e];
        t.cost[e] = cost[e];
        cmax = fmax(cmax, fabs(cost[e]));
    }
    for (int64_t i = 0; i < n; i++) warm = fmax(warm, fabs(u0[i]));
    for (int64_t j = 0; j < m; j++) warm = fmax(warm, fabs(v0[j]));
    double big = (double)(N + 1) * (cmax + 2.0 * warm) + 1.0;

    int64_t nb = 0;
    for (int64_t e = 0; e < E; e++) nb += basis[e] != 0;
    if (nb == 0) memset(basis + E, 0, (size_t)N);
    adj = (int64_t *)malloc((size_t)(2 * nb + 1) * sizeof(int64_t));
    if (!adj) {
        status = 1;
        goto done;
    }
    /* A breadth-first spanning forest of the given arcs (an arc closing a cycle is left out),
     * each tree hung from the root by the artificial arc of its root node, flows from the
     * supplies, leaves first. An arc that would carry less than nothing, or nothing away
     * from the root, is cut and its subtree hung from the root by its own artificial arc:
     * every arc without flow points to the root (strongly feasible). */
    for (int64_t e = 0; e < E; e++)
        if (basis[e]) {
            start[t.tail[e] + 1]++;
            start[t.head[e] + 1]++;
        }
    for (int64_t w = 0; w < N; w++) start[w + 1] += start[w];
    memcpy(t.path, start, (size_t)N * sizeof(int64_t));
    for (int64_t e = 0; e < E; e++)
        if (basis[e]) {
            adj[t.path[t.tail[e]]++] = e;
            adj[t.path[t.head[e]]++] = e;
        }
    for (int64_t w = 0; w <= N; w++) t.parent[w] = -2;
    t.parent[t.root] = -1;
    int64_t *queue = t.seg, *order = t.seg + N + 1, norder = 0;
    for (int64_t k = 0; k < 2 * N; k++) { /* roots: the given ones, then any */
        int64_t r = k % N;
        if (t.parent[r] != -2 || (k < N && !basis[E + r])) continue;
        int64_t qh = 0, qt = 0, first = norder;
        t.parent[r] = t.root;
        t.pred[r] = -1;
        queue[qt++] = r;
        while (qh < qt) {
            int64_t w = queue[qh++];
            order[norder++] = w;
            net[w] = w < n ? supply[w] : -demand[w - n];
            for (int64_t s = start[w]; s < start[w + 1]; s++) {
                int64_t e = adj[s], o = t.tail[e] == w ? t.head[e] : t.tail[e];
                if (e == t.pred[w] || t.parent[o] != -2) continue; /* seen: a cycle */
                t.parent[o] = w;
                t.pred[o] = e;
                t.dir[o] = t.tail[e] == o ? UP : DOWN;
                queue[qt++] = o;
            }
        }
        for (int64_t k = norder - 1; k > first; k--) {
            int64_t w = order[k];
            double f = t.dir[w] == UP ? net[w] : -net[w];
            if (f > tol || (f >= -tol && t.dir[w] == UP)) {
                if (f < 0) f = 0;
                t.flow[t.pred[w]] = f;
                t.basic[t.pred[w]] = 1;
                net[t.parent[w]] += net[w];
            } else {
                attach(&t, w, net[w], w < n ? -u0[w] : v0[w - n], big, tol);
            }
        }
        attach(&t, r, net[r], r < n ? -u0[r] : v0[r - n], big, tol);
    }
    memset(t.succ, 0, (size_t)(N + 1) * sizeof(int64_t));
    if (links(&t)) {
        status = 1;
        goto done;
    }
    /* The artificial arcs' costs: big + the warm potential of their node, or, without
     * artificial flow, the warm potential alone (phase 2 from the start). */
    int phase = 1;
    potentials(&t);
    if (artificial_flow(&t) <= tol) {
        phase_two(&t, big);
        phase = 2;
    }
    /* blocks of sqrt(E) arcs, up to 4 sqrt(E) on large graphs, where a pivot costs more than
     * a scan and better entering arcs pay (fewer pivots, smaller subtrees moved) */
    double widen = fmin(4.0, fmax(1.0, (double)N / 16384.0));
    int64_t block = (int64_t)(widen * sqrt((double)E));
    if (block < 16) block = 16;
    int64_t next = 0, pivots = 0, first_phase = 0;
    int fresh = 0; /* potentials recomputed from the tree since the last pivot */
    for (;;) {
        double eps = phase == 1 ? 64.0 * DBL_EPSILON * big : 0.0;
        int64_t in = entering(&t, &next, block, 16.0 * DBL_EPSILON, eps);
        if (in < 0 && phase == 2) {
            if (fresh) break;
            potentials(&t); /* optimal on updated potentials: check once more on exact ones */
            fresh = 1;
            continue;
        }
        if (in < 0 || (pivots % 4096 == 4095 && phase == 1 && artificial_flow(&t) <= tol)) {
            if (artificial_flow(&t) > tol) { /* optimal with flow left on the root */
                for (int64_t w = 0; w < N; w++)
                    if (t.basic[E + w] && t.flow[E + w] > tol) {
                        status = -(w + 1);
                        break;
                    }
                goto done;
            }
            phase_two(&t, big);
            phase = 2;
            first_phase = pivots;
            continue;
        }
        if (pivot(&t, in)) { /* a cycle of negative cost without a blocking arc */
            status = 4;
            goto done;
        }
        pivots++;
        fresh = 0;
        if (max_pivots > 0 && pivots >= max_pivots) {
            status = 2;
            break;
        }
    }
    potentials(&t);
    for (int64_t e = 0; e < E; e++) flow[e] = t.flow[e];
    memcpy(basis, t.basic, (size_t)A);
    for (int64_t i = 0; i < n; i++) u[i] = -t.pi[i];
    for (int64_t j = 0; j < m; j++) v[j] = t.pi[n + j];
    stats[0] = pivots;
    stats[1] = phase == 1 ? pivots : first_phase;
done:
    free(t.tail);
    free(t.head);
    free(t.cost);
    free(t.flow);
    free(t.basic);
    free(t.parent);
    free(t.pred);
    free(t.thread);
    free(t.rev);
    free(t.succ);
    free(t.last);
    free(t.path);
    free(t.seg);
    free(t.dir);
    free(t.pi);
    free(net);
    free(adj);
    free(start);
    return status;
}
