#include "core/vision/oat/scanpath_case.h"

#include <algorithm>
#include <cmath>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/vision/oat/metrics.h"

namespace attnlab::oat {

ScanpathCase makeScanpathCase(const DisplaySpec& spec, int subjects) {
    ScanpathCase c;
    c.display = generateDisplay(spec);
    const auto people = makeSubjects(subjects);
    for (int s = 0; s < subjects; ++s) c.subjects.push_back(simulateObserver(c.display, people[s], trialSeed(c.display, s)));
    // Baseline lengths from validation displays, as `attnlab-oat-data eval` does (fewer of them).
    BaselineOptions options;
    double absent_sum = 0;
    int absent_n = 0;
    for (int i = 0; i < 40; ++i) {
        const Display v = generateDisplay(splitDisplaySpec(Split::Val, i));
        for (int s = 0; s < subjects; ++s) {
            const int len = static_cast<int>(simulateObserver(v, people[s], trialSeed(v, s)).fixations.size());
            options.length_pool.push_back(len);
            if (v.target_index < 0) absent_sum += len, ++absent_n;
        }
    }
    options.max_length = absent_n > 0 ? static_cast<int>(std::lround(absent_sum / absent_n)) : 12;
    for (int b = 0; b < kBaselineCount; ++b)
        c.baselines.push_back({baselineName(static_cast<Baseline>(b)),
                               baselinePath(static_cast<Baseline>(b), c.display, options, spec.seed ^ 0x5eedull)});
    return c;
}

bool parseRegime(const std::string& name, Regime* regime) {
    for (int r = 0; r < kRegimeCount; ++r)
        if (name == regimeName(static_cast<Regime>(r))) {
            *regime = static_cast<Regime>(r);
            return true;
        }
    return false;
}

namespace {

void appendRgb(const cv::Mat& bgr, std::vector<uint8_t>* out) {
    for (int y = 0; y < bgr.rows; ++y) {
        const uint8_t* row = bgr.ptr<uint8_t>(y);
        for (int x = 0; x < bgr.cols; ++x) {
            out->push_back(row[3 * x + 2]);
            out->push_back(row[3 * x + 1]);
            out->push_back(row[3 * x + 0]);
        }
    }
}

}  // namespace

OatInputs modelInputs(const Display& display) {
    OatInputs in;
    cv::Mat image, crop;
    renderDisplay(display, &image);
    in.objects = static_cast<int>(display.objects.size());
    for (const SearchObject& o : display.objects) {
        cropObject(image, o, &crop);
        appendRgb(crop, &in.crops);
        in.cells.push_back(static_cast<int64_t>(o.cell_row) * kGridCols + o.cell_col);
    }
    renderCue(display.target, &crop);
    appendRgb(crop, &in.cue);
    return in;
}

double meanSequenceScore(const std::vector<int>& path, const std::vector<Scanpath>& subjects) {
    if (subjects.empty()) return 0;
    double sum = 0;
    for (const Scanpath& s : subjects) sum += sequenceScore(path, objectString(s));
    return sum / static_cast<double>(subjects.size());
}

void drawScanpaths(const Display& display, const std::vector<DrawnPath>& paths, int scale, cv::Mat* out) {
    scale = std::max(1, scale);
    cv::Mat base;
    renderDisplay(display, &base);
    cv::resize(base, *out, cv::Size(), scale, scale, cv::INTER_NEAREST);
    cv::Mat& image = *out;
    const double f = scale;
    for (size_t i = 0; i < display.objects.size(); ++i) {
        const SearchObject& o = display.objects[i];
        const bool target = static_cast<int>(i) == display.target_index;
        const cv::Scalar colour = target ? cv::Scalar(0, 230, 255) : cv::Scalar(200, 200, 200);
        cv::rectangle(image, cv::Point2d((o.x_px - o.w_px / 2 - 3) * f, (o.y_px - o.h_px / 2 - 3) * f),
                      cv::Point2d((o.x_px + o.w_px / 2 + 3) * f, (o.y_px + o.h_px / 2 + 3) * f), colour,
                      target ? 2 : 1, cv::LINE_AA);
    }
    const int count = static_cast<int>(paths.size());
    for (int p = 0; p < count; ++p) {
        const DrawnPath& path = paths[p];
        const cv::Scalar colour(path.bgr[0], path.bgr[1], path.bgr[2]);
        const double off = (p - (count - 1) / 2.0) * 4.0;
        cv::Point2d at(kCanvasWidth / 2.0 * f + off * f, kCanvasHeight / 2.0 * f + off * f);
        cv::circle(image, at, 3 * scale, colour, cv::FILLED, cv::LINE_AA);
        for (size_t k = 0; k < path.objects.size(); ++k) {
            const int idx = path.objects[k];
            if (idx < 0 || idx >= static_cast<int>(display.objects.size())) continue;
            const SearchObject& o = display.objects[idx];
            const cv::Point2d next((o.x_px + off) * f, (o.y_px + off) * f);
            if (cv::norm(next - at) > 1) cv::arrowedLine(image, at, next, colour, std::max(1, scale), cv::LINE_AA, 0, 8.0 * f / cv::norm(next - at));
            cv::circle(image, next, 7 * scale, colour, cv::FILLED, cv::LINE_AA);
            const std::string label = std::to_string(k + 1);
            cv::putText(image, label, next + cv::Point2d(-4.0 * f * label.size(), 4.0 * f), cv::FONT_HERSHEY_SIMPLEX,
                        0.35 * f, cv::Scalar(0, 0, 0), std::max(1, scale / 2), cv::LINE_AA);
            at = next;
        }
        if (!path.label.empty())
            cv::putText(image, path.label, cv::Point2d(6 * f, (14 + 14 * p) * f), cv::FONT_HERSHEY_SIMPLEX, 0.45 * f,
                        colour, std::max(1, scale / 2), cv::LINE_AA);
    }
}

}  // namespace attnlab::oat
