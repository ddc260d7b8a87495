#include "core/vision/oat/eval.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace attnlab::oat {

namespace {

const double kDiagPx = std::hypot(static_cast<double>(kCanvasWidth), static_cast<double>(kCanvasHeight));

std::vector<Point2> centresOf(const Display& d, const std::vector<int>& path) {
    std::vector<Point2> pts{{kCanvasWidth / 2.0f, kCanvasHeight / 2.0f}};
    for (int o : path) pts.push_back({d.objects[o].x_px, d.objects[o].y_px});
    return pts;
}

std::vector<Point2> landingsOf(const Scanpath& s) {
    std::vector<Point2> pts{{kCanvasWidth / 2.0f, kCanvasHeight / 2.0f}};
    for (const auto& f : s.fixations) pts.push_back({f.x_px, f.y_px});
    return pts;
}

struct PerTrial {
    double ss = 0, ed = 0, mm = 0;
};

// Sums of per-path behaviour statistics, so a bootstrap resample costs one pass over its trials.
struct BehaviourSums {
    double length = 0, search = 0, refix = 0, revisit = 0, found = 0;
    int paths = 0, present = 0;
    void add(const std::vector<int>& path, int target) {
        const BehaviourVector b = behaviourOf(path, target);
        length += b.length, search += b.search_share, refix += b.refixation_share, revisit += b.revisit_share;
        found += b.found;
        ++paths;
        present += b.present_count;
    }
    void add(const BehaviourSums& o, double sign = 1.0) {
        length += sign * o.length, search += sign * o.search, refix += sign * o.refix, revisit += sign * o.revisit;
        found += sign * o.found;
        paths += static_cast<int>(sign) * o.paths;
        present += static_cast<int>(sign) * o.present;
    }
    BehaviourVector mean() const {
        BehaviourVector b;
        if (paths == 0) return b;
        b.length = length / paths, b.search_share = search / paths, b.refixation_share = refix / paths;
        b.revisit_share = revisit / paths;
        b.present_count = present;
        b.found = present > 0 ? found / present : 0.0;
        return b;
    }
};

void fillIntervals(MethodResult* r, const std::vector<PerTrial>& per, const EvalOptions& opt,
                   const std::function<double(const std::vector<int>&)>& delta) {
    std::vector<double> ss, ed, mm;
    for (const auto& p : per) ss.push_back(p.ss), ed.push_back(p.ed), mm.push_back(p.mm);
    r->ss = bootstrapMean(ss, opt.resamples, opt.seed);
    r->ed = bootstrapMean(ed, opt.resamples, opt.seed + 1);
    r->mm = bootstrapMean(mm, opt.resamples, opt.seed + 2);
    r->delta = bootstrap(static_cast<int>(per.size()), delta, opt.resamples, opt.seed + 3);
}

}  // namespace

Trial makeTrial(const Display& display, const std::vector<ObserverParams>& subjects) {
    Trial t;
    t.display = display;
    for (size_t s = 0; s < subjects.size(); ++s)
        t.subjects.push_back(simulateObserver(display, subjects[s], trialSeed(display, static_cast<int>(s))));
    return t;
}

BehaviourVector subjectBehaviour(const std::vector<Trial>& trials) {
    std::vector<std::vector<int>> paths;
    std::vector<int> targets;
    for (const auto& t : trials)
        for (const auto& s : t.subjects) paths.push_back(objectString(s)), targets.push_back(t.display.target_index);
    return meanBehaviour(paths, targets);
}

MethodPaths baselineMethod(Baseline b, const std::vector<Trial>& trials, const BaselineOptions& options, int samples) {
    MethodPaths m;
    m.name = baselineName(b);
    m.is_oracle = isOracleBaseline(b);
    const int k = b == Baseline::Random ? samples : 1;
    for (const auto& t : trials) {
        std::vector<std::vector<int>> per;
        for (int s = 0; s < k; ++s)
            per.push_back(baselinePath(b, t.display, options, t.display.spec.seed * 977 + static_cast<uint64_t>(s)));
        m.paths.push_back(per);
    }
    return m;
}

std::vector<MethodResult> evaluateMethods(const std::vector<Trial>& trials, const std::vector<MethodPaths>& methods,
                                          const EvalOptions& opt, bool with_ceiling) {
    std::vector<MethodResult> out;
    const int n = static_cast<int>(trials.size());
    const int subjects = n > 0 ? static_cast<int>(trials[0].subjects.size()) : 0;
    // Per trial: all subjects' behaviour sums, and each subject's own.
    std::vector<BehaviourSums> subject_total(n);
    std::vector<std::vector<BehaviourSums>> subject_each(n, std::vector<BehaviourSums>(subjects));
    for (int t = 0; t < n; ++t) {
        for (int s = 0; s < subjects; ++s) {
            subject_each[t][s].add(objectString(trials[t].subjects[s]), trials[t].display.target_index);
            subject_total[t].add(subject_each[t][s]);
        }
    }
    for (const auto& m : methods) {
        MethodResult r;
        r.name = m.name;
        r.is_oracle = m.is_oracle;
        std::vector<PerTrial> per(n);
        std::vector<BehaviourSums> model(n);
        BehaviourSums all;
        for (int t = 0; t < n; ++t) {
            const Trial& tr = trials[t];
            double ss = 0, ed = 0, mm = 0;
            int pairs = 0;
            for (const auto& p : m.paths[t]) {
                model[t].add(p, tr.display.target_index);
                const auto pts = centresOf(tr.display, p);
                for (const auto& s : tr.subjects) {
                    const auto h = objectString(s);
                    ss += sequenceScore(p, h);
                    ed += editDistance(p, h);
                    mm += multiMatch(pts, landingsOf(s), kDiagPx).mean();
                    ++pairs;
                }
            }
            all.add(model[t]);
            if (pairs > 0) per[t] = {ss / pairs, ed / pairs, mm / pairs};
        }
        r.behaviour = all.mean();
        fillIntervals(&r, per, opt, [&](const std::vector<int>& idx) {
            BehaviourSums a, b;
            for (int t : idx) a.add(model[t]), b.add(subject_total[t]);
            return behaviourDelta(a.mean(), b.mean());
        });
        out.push_back(r);
    }
    if (with_ceiling && n > 0 && subjects >= 2) {
        // Each subject against each other subject (ordered pairs, averaged per display), and each
        // subject's behaviour against the pooled behaviour of the other subjects (delta averaged over
        // subjects).
        MethodResult r;
        r.name = "subjects (leave-one-out ceiling)";
        std::vector<PerTrial> per(n);
        for (int t = 0; t < n; ++t) {
            const Trial& tr = trials[t];
            double ss = 0, ed = 0, mm = 0;
            int pairs = 0;
            for (int a = 0; a < subjects; ++a) {
                for (int b = 0; b < subjects; ++b) {
                    if (a == b) continue;
                    const auto pa = objectString(tr.subjects[a]), pb = objectString(tr.subjects[b]);
                    ss += sequenceScore(pa, pb);
                    ed += editDistance(pa, pb);
                    mm += multiMatch(landingsOf(tr.subjects[a]), landingsOf(tr.subjects[b]), kDiagPx).mean();
                    ++pairs;
                }
            }
            per[t] = {ss / pairs, ed / pairs, mm / pairs};
        }
        r.behaviour = subjectBehaviour(trials);
        fillIntervals(&r, per, opt, [&](const std::vector<int>& idx) {
            double sum = 0;
            for (int s = 0; s < subjects; ++s) {
                BehaviourSums one, rest;
                for (int t : idx) {
                    one.add(subject_each[t][s]);
                    rest.add(subject_total[t]);
                    rest.add(subject_each[t][s], -1.0);
                }
                sum += behaviourDelta(one.mean(), rest.mean());
            }
            return sum / subjects;
        });
        out.push_back(r);
    }
    return out;
}

std::string resultsJson(const std::string& split, const std::vector<MethodResult>& results, int trials) {
    std::ostringstream o;
    o.precision(6);
    auto iv = [&](const Interval& i) {
        std::ostringstream s;
        s.precision(6);
        s << "{\"value\": " << i.value << ", \"lo\": " << i.lo << ", \"hi\": " << i.hi << "}";
        return s.str();
    };
    o << "{\"split\": \"" << split << "\", \"displays\": " << trials << ", \"methods\": [\n";
    for (size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        o << "  {\"name\": \"" << r.name << "\", \"oracle\": " << (r.is_oracle ? "true" : "false")
          << ", \"sequence_score\": " << iv(r.ss) << ", \"edit_distance\": " << iv(r.ed)
          << ", \"multimatch\": " << iv(r.mm) << ", \"behaviour_delta\": " << iv(r.delta)
          << ", \"behaviour\": {\"found\": " << r.behaviour.found << ", \"length\": " << r.behaviour.length
          << ", \"search\": " << r.behaviour.search_share << ", \"refixation\": " << r.behaviour.refixation_share
          << ", \"revisit\": " << r.behaviour.revisit_share << "}}" << (i + 1 < results.size() ? ",\n" : "\n");
    }
    o << "]}\n";
    return o.str();
}

std::string resultsMarkdown(const std::string& split, const std::vector<MethodResult>& results, int trials) {
    std::ostringstream o;
    char buf[512];
    o << "### " << split << " (" << trials << " displays, bootstrap 95% intervals over displays)\n\n";
    o << "| method | SS ↑ | ED ↓ | MultiMatch ↑ | delta ↓ | found | length | search | refix | revisit |\n";
    o << "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
    for (const auto& r : results) {
        std::snprintf(buf, sizeof(buf),
                      "| %s | %.3f [%.3f, %.3f] | %.2f [%.2f, %.2f] | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] | %.2f | "
                      "%.2f | %.2f | %.2f | %.2f |\n",
                      r.name.c_str(), r.ss.value, r.ss.lo, r.ss.hi, r.ed.value, r.ed.lo, r.ed.hi, r.mm.value, r.mm.lo,
                      r.mm.hi, r.delta.value, r.delta.lo, r.delta.hi, r.behaviour.found, r.behaviour.length,
                      r.behaviour.search_share, r.behaviour.refixation_share, r.behaviour.revisit_share);
        o << buf;
    }
    o << "\n";
    return o.str();
}

}  // namespace attnlab::oat
