#include "core/vision/oat/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/vision/oat/rng.h"

namespace attnlab::oat {

double sequenceScore(const std::vector<int>& a, const std::vector<int>& b) {
    const size_t n = a.size(), m = b.size();
    if (n == 0 && m == 0) return 1.0;
    std::vector<int> prev(m + 1, 0), cur(m + 1, 0);
    for (size_t i = 1; i <= n; ++i) {
        for (size_t j = 1; j <= m; ++j)
            cur[j] = std::max({prev[j - 1] + (a[i - 1] == b[j - 1] ? 1 : 0), prev[j], cur[j - 1]});
        std::swap(prev, cur);
    }
    return static_cast<double>(prev[m]) / static_cast<double>(std::max(n, m));
}

int editDistance(const std::vector<int>& a, const std::vector<int>& b) {
    const size_t n = a.size(), m = b.size();
    std::vector<int> prev(m + 1), cur(m + 1);
    for (size_t j = 0; j <= m; ++j) prev[j] = static_cast<int>(j);
    for (size_t i = 1; i <= n; ++i) {
        cur[0] = static_cast<int>(i);
        for (size_t j = 1; j <= m; ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[m];
}

MultiMatch multiMatch(const std::vector<Point2>& a, const std::vector<Point2>& b, double diag_px) {
    MultiMatch mm;
    const size_t na = a.size() < 2 ? 0 : a.size() - 1, nb = b.size() < 2 ? 0 : b.size() - 1;
    if (na == 0 || nb == 0) {
        const double v = (na == 0 && nb == 0) ? 1.0 : 0.0;
        mm.vector = mm.direction = mm.length = mm.position = v;
        return mm;
    }
    struct Sac {
        double x0, y0, dx, dy;
    };
    auto saccades = [](const std::vector<Point2>& p) {
        std::vector<Sac> s;
        for (size_t i = 0; i + 1 < p.size(); ++i) s.push_back({p[i].x, p[i].y, p[i + 1].x - p[i].x, p[i + 1].y - p[i].y});
        return s;
    };
    const auto sa = saccades(a), sb = saccades(b);
    auto diff = [&](size_t i, size_t j) { return std::hypot(sa[i].dx - sb[j].dx, sa[i].dy - sb[j].dy); };
    // Minimal-cost monotone alignment from (0,0) to (na-1, nb-1) with right/down/diagonal steps.
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> cost(na * nb, inf);
    std::vector<int> from(na * nb, -1);
    for (size_t i = 0; i < na; ++i) {
        for (size_t j = 0; j < nb; ++j) {
            const double c = diff(i, j);
            if (i == 0 && j == 0) {
                cost[0] = c;
                continue;
            }
            double best = inf;
            int arg = -1;
            if (i > 0 && j > 0 && cost[(i - 1) * nb + j - 1] < best) best = cost[(i - 1) * nb + j - 1], arg = 0;
            if (i > 0 && cost[(i - 1) * nb + j] < best) best = cost[(i - 1) * nb + j], arg = 1;
            if (j > 0 && cost[i * nb + j - 1] < best) best = cost[i * nb + j - 1], arg = 2;
            cost[i * nb + j] = best + c;
            from[i * nb + j] = arg;
        }
    }
    std::vector<std::pair<size_t, size_t>> pairs;
    size_t i = na - 1, j = nb - 1;
    for (;;) {
        pairs.push_back({i, j});
        const int f = from[i * nb + j];
        if (f < 0) break;
        if (f == 0) --i, --j;
        else if (f == 1) --i;
        else --j;
    }
    const double kPi = 3.14159265358979;
    for (const auto& [pi, pj] : pairs) {
        const Sac& u = sa[pi];
        const Sac& v = sb[pj];
        const double lu = std::hypot(u.dx, u.dy), lv = std::hypot(v.dx, v.dy);
        mm.vector += 1.0 - std::hypot(u.dx - v.dx, u.dy - v.dy) / (2.0 * diag_px);
        double angle = 0;
        if (lu > 1e-9 && lv > 1e-9) {
            angle = std::fabs(std::atan2(u.dy, u.dx) - std::atan2(v.dy, v.dx));
            if (angle > kPi) angle = 2 * kPi - angle;
        } else if ((lu > 1e-9) != (lv > 1e-9)) {
            angle = kPi / 2;  // one null saccade: direction undefined, half credit
        }
        mm.direction += 1.0 - angle / kPi;
        mm.length += 1.0 - std::fabs(lu - lv) / diag_px;
        mm.position += 1.0 - std::hypot(u.x0 - v.x0, u.y0 - v.y0) / diag_px;
    }
    const double k = static_cast<double>(pairs.size());
    mm.vector /= k, mm.direction /= k, mm.length /= k, mm.position /= k;
    return mm;
}

BehaviourVector behaviourOf(const std::vector<int>& path, int target_index) {
    BehaviourVector b;
    b.length = static_cast<double>(path.size());
    if (target_index >= 0) {
        b.present_count = 1;
        b.found = (!path.empty() && path.back() == target_index) ? 1.0 : 0.0;
    }
    if (path.empty()) return b;
    std::set<int> seen;
    int search = 0, revisit = 0, refix = 0;
    for (size_t i = 0; i < path.size(); ++i) {
        if (i > 0 && path[i] == path[i - 1]) {
            ++refix;
            continue;
        }
        if (seen.count(path[i])) ++revisit;
        else ++search;
        seen.insert(path[i]);
    }
    b.search_share = search / b.length;
    b.refixation_share = refix / b.length;
    b.revisit_share = revisit / b.length;
    return b;
}

BehaviourVector meanBehaviour(const std::vector<std::vector<int>>& paths, const std::vector<int>& target_indices) {
    BehaviourVector m;
    if (paths.empty()) return m;
    double found = 0;
    for (size_t i = 0; i < paths.size(); ++i) {
        const BehaviourVector b = behaviourOf(paths[i], i < target_indices.size() ? target_indices[i] : -1);
        m.length += b.length;
        m.search_share += b.search_share;
        m.refixation_share += b.refixation_share;
        m.revisit_share += b.revisit_share;
        found += b.found;
        m.present_count += b.present_count;
    }
    const double n = static_cast<double>(paths.size());
    m.length /= n, m.search_share /= n, m.refixation_share /= n, m.revisit_share /= n;
    m.found = m.present_count > 0 ? found / m.present_count : 0.0;
    return m;
}

double behaviourDelta(const BehaviourVector& model, const BehaviourVector& ref) {
    const double mv[5] = {model.found, model.length, model.search_share, model.refixation_share, model.revisit_share};
    const double rv[5] = {ref.found, ref.length, ref.search_share, ref.refixation_share, ref.revisit_share};
    double sum = 0;
    int count = 0;
    for (int i = 0; i < 5; ++i) {
        if (i == 0 && ref.present_count == 0) continue;
        if (rv[i] <= 0) continue;
        sum += std::fabs(mv[i] - rv[i]) / rv[i];
        ++count;
    }
    return count > 0 ? sum / count : 0.0;
}

Interval bootstrap(int n, const std::function<double(const std::vector<int>&)>& stat, int resamples, uint64_t seed) {
    Interval out;
    std::vector<int> idx(n);
    for (int i = 0; i < n; ++i) idx[i] = i;
    out.value = stat(idx);
    if (n == 0 || resamples <= 0) {
        out.lo = out.hi = out.value;
        return out;
    }
    Rng rng(seed);
    std::vector<double> values;
    values.reserve(resamples);
    for (int r = 0; r < resamples; ++r) {
        for (int i = 0; i < n; ++i) idx[i] = rng.index(n);
        values.push_back(stat(idx));
    }
    std::sort(values.begin(), values.end());
    auto at = [&](double q) {
        const double pos = q * (values.size() - 1);
        const size_t lo = static_cast<size_t>(std::floor(pos));
        const size_t hi = std::min(values.size() - 1, lo + 1);
        return values[lo] + (pos - lo) * (values[hi] - values[lo]);
    };
    out.lo = at(0.025);
    out.hi = at(0.975);
    return out;
}

Interval bootstrapMean(const std::vector<double>& values, int resamples, uint64_t seed) {
    return bootstrap(
        static_cast<int>(values.size()),
        [&](const std::vector<int>& idx) {
            double s = 0;
            for (int i : idx) s += values[i];
            return idx.empty() ? 0.0 : s / idx.size();
        },
        resamples, seed);
}

}  // namespace attnlab::oat
