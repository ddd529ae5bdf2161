/* Sparse plans given as entries (src, dst, mass) sorted by src, then dst.
 *
 * - lagot_merge_entries: the union of two such lists, masses of equal pairs added (into new
 *   arrays, or in place into the first list's spare room: lagot_merge_entries_inplace).
 * - lagot_entries_cost: sum_k mass_k |x_src_k - y_dst_k|^2 over a range of entries.
 */
#include <stdint.h>
#include <string.h>

/* First k in [lo, n) with (s[k], d[k]) >= (si, di), by doubling then bisection from lo. */
static int64_t lower_bound(const int64_t *s, const int64_t *d, int64_t lo, int64_t n, int64_t si, int64_t di) {
    int64_t step = 1, hi = lo;
    while (hi < n && (s[hi] < si || (s[hi] == si && d[hi] < di))) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    hi = hi < n ? hi : n;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (s[mid] < si || (s[mid] == si && d[mid] < di)) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Merges (s1, d1, m1) (n1 entries) and (s2, d2, m2) (n2, the short list), both sorted by
 * (src, dst) with no pair twice, into (so, dout, mo); returns the number of entries
 * written. The runs of the first list between the second's entries are copied whole. */
int64_t lagot_merge_entries(int64_t n1, const int64_t *s1, const int64_t *d1, const double *m1, int64_t n2,
                            const int64_t *s2, const int64_t *d2, const double *m2, int64_t *so, int64_t *dout,
                            double *mo) {
    int64_t i = 0, k = 0;
    for (int64_t j = 0; j < n2; j++) {
        const int64_t at = lower_bound(s1, d1, i, n1, s2[j], d2[j]);
        memcpy(so + k, s1 + i, (at - i) * sizeof(int64_t));
        memcpy(dout + k, d1 + i, (at - i) * sizeof(int64_t));
        memcpy(mo + k, m1 + i, (at - i) * sizeof(double));
        k += at - i;
        i = at;
        so[k] = s2[j], dout[k] = d2[j], mo[k] = m2[j];
        if (i < n1 && s1[i] == s2[j] && d1[i] == d2[j]) mo[k] += m1[i++]; /* the same pair */
        k++;
    }
    memcpy(so + k, s1 + i, (n1 - i) * sizeof(int64_t));
    memcpy(dout + k, d1 + i, (n1 - i) * sizeof(int64_t));
    memcpy(mo + k, m1 + i, (n1 - i) * sizeof(double));
    return k + n1 - i;
}

/* lagot_merge_entries into the first list's own arrays, which have room for n1 + n2 entries:
 * the second list's entries are placed from the back, the runs of the first list between
 * them moved whole, then the gap left by pairs in both lists closed. */
int64_t lagot_merge_entries_inplace(int64_t n1, int64_t *s1, int64_t *d1, double *m1, int64_t n2,
                                    const int64_t *s2, const int64_t *d2, const double *m2) {
    int64_t i = n1, k = n1 + n2; /* [0, i): first list still in place; [k, n1 + n2): merged tail */
    for (int64_t j = n2 - 1; j >= 0; j--) {
        const int64_t at = lower_bound(s1, d1, 0, i, s2[j], d2[j]);
        const int same = at < i && s1[at] == s2[j] && d1[at] == d2[j];
        const int64_t from = same ? at + 1 : at, len = i - from;
        k -= len;
        memmove(s1 + k, s1 + from, len * sizeof(int64_t));
        memmove(d1 + k, d1 + from, len * sizeof(int64_t));
        memmove(m1 + k, m1 + from, len * sizeof(double));
        k--;
        m1[k] = m2[j] + (same ? m1[at] : 0.0);
        s1[k] = s2[j], d1[k] = d2[j];
        i = at;
    }
    const int64_t tail = n1 + n2 - k;
    memmove(s1 + i, s1 + k, tail * sizeof(int64_t));
    memmove(d1 + i, d1 + k, tail * sizeof(int64_t));
    memmove(m1 + i, m1 + k, tail * sizeof(double));
    return i + tail;
}

/* sum_k mass_k |x_src_k - y_dst_k|^2 for k0 <= k < k1; x (n, d) and y (m, d) row-major. */
double lagot_entries_cost(int64_t k0, int64_t k1, int64_t d, const int64_t *src, const int64_t *dst,
                          const double *mass, const double *x, const double *y) {
    double total = 0.0;
    for (int64_t k = k0; k < k1; k++) {
        const double *xi = x + src[k] * d, *yj = y + dst[k] * d;
        double c = 0.0;
        for (int64_t a = 0; a < d; a++) {
            const double diff = xi[a] - yj[a];
            c += diff * diff;
        }
        total += mass[k] * c;
    }
    return total;
}
