#include "views/scanpath_model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <opencv2/core.hpp>

#include "core/vision/oat/metrics.h"

namespace attnlab {

namespace fs = std::filesystem;
using namespace attnlab::oat;

ScanpathViewModel::ScanpathViewModel() = default;
ScanpathViewModel::~ScanpathViewModel() = default;

std::string ScanpathViewModel::findDefaultModelDir(const std::string& exe_dir) {
    auto ok = [](const fs::path& p) { return fs::exists(p / "config.json") && fs::exists(p / "model.safetensors"); };
    if (const char* env = std::getenv("ATTNLAB_OAT_MODEL"); env && *env && ok(env)) return env;
    std::error_code ec;
    if (ok(fs::current_path(ec) / "assets/models/oat")) return (fs::current_path(ec) / "assets/models/oat").string();
    for (fs::path p = fs::absolute(exe_dir.empty() ? "." : exe_dir, ec); !p.empty(); p = p.parent_path()) {
        if (ok(p / "assets/models/oat")) return (p / "assets/models/oat").string();
        if (ok(p / "share/attnlab/models/oat")) return (p / "share/attnlab/models/oat").string();
        if (p == p.parent_path()) break;
    }
    return "";
}

bool ScanpathViewModel::loadModel(const std::string& dir, std::string* error) {
    auto m = OatModel::load(dir);
    if (!m.isOk()) {
        if (error) *error = m.error();
        return false;
    }
    m_model = std::move(*m);
    m_model_dir = dir;
    return true;
}

bool ScanpathViewModel::generate(const DisplaySpec& spec, const std::string& decode, std::string* error) {
    if (decode != "mbr" && decode != "greedy") {
        if (error) *error = "decoding must be mbr or greedy, got '" + decode + "'";
        return false;
    }
    std::unique_ptr<ScanpathCase> c;
    try {
        c = std::make_unique<ScanpathCase>(makeScanpathCase(spec, 10));
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        return false;
    }
    std::vector<int> path;
    OatModel::Trace trace;
    if (m_model) {
        const OatInputs in = modelInputs(c->display);
        auto p = decode == "greedy" ? m_model->greedy(in) : m_model->mbr(in, 16, spec.seed);
        if (!p.isOk()) {
            if (error) *error = p.error();
            return false;
        }
        auto t = m_model->trace(in, *p);
        if (!t.isOk()) {
            if (error) *error = t.error();
            return false;
        }
        path = std::move(*p);
        trace = std::move(*t);
    }
    cv::Mat bgr;
    renderDisplay(c->display, &bgr);
    m_image.resize(static_cast<size_t>(bgr.rows) * bgr.cols * 3);
    for (int y = 0; y < bgr.rows; ++y)
        for (int x = 0; x < bgr.cols; ++x)
            for (int k = 0; k < 3; ++k)
                m_image[(static_cast<size_t>(y) * bgr.cols + x) * 3 + k] = bgr.ptr<uint8_t>(y)[3 * x + 2 - k];
    m_case = std::move(c);
    m_decode = decode;
    m_model_path = std::move(path);
    m_trace = std::move(trace);
    m_steps = m_model ? m_trace.steps : 0;
    m_step = 0;
    m_subject = std::min(m_subject, subjectCount() - 1);
    return true;
}

const Display& ScanpathViewModel::display() const {
    static const Display empty;
    return m_case ? m_case->display : empty;
}
int ScanpathViewModel::objects() const { return m_case ? static_cast<int>(m_case->display.objects.size()) : 0; }
int ScanpathViewModel::subjectCount() const { return m_case ? static_cast<int>(m_case->subjects.size()) : 0; }
std::vector<int> ScanpathViewModel::subjectPath(int s) const {
    if (!m_case || s < 0 || s >= subjectCount()) return {};
    return objectString(m_case->subjects[s]);
}
void ScanpathViewModel::setSubject(int s) { m_subject = std::clamp(s, -1, std::max(-1, subjectCount() - 1)); }

void ScanpathViewModel::setStep(int s) { m_step = m_steps > 0 ? std::clamp(s, 0, m_steps - 1) : 0; }
bool ScanpathViewModel::next() {
    if (m_step + 1 >= m_steps) return false;
    ++m_step;
    return true;
}
bool ScanpathViewModel::prev() {
    if (m_step <= 0) return false;
    --m_step;
    return true;
}

std::vector<float> ScanpathViewModel::pointer() const {
    if (m_steps == 0) return {};
    const int w = m_trace.objects + 1;
    return std::vector<float>(m_trace.pointer.begin() + m_step * w, m_trace.pointer.begin() + (m_step + 1) * w);
}
std::vector<float> ScanpathViewModel::attention() const {
    if (m_steps == 0) return {};
    const int w = m_trace.objects + 2;
    return std::vector<float>(m_trace.attention.begin() + m_step * w, m_trace.attention.begin() + (m_step + 1) * w);
}
int ScanpathViewModel::argmaxObject() const {
    const std::vector<float> p = pointer();
    if (p.empty()) return -1;
    return static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
}

double ScanpathViewModel::modelScore() const {
    return m_case && m_model ? meanSequenceScore(m_model_path, m_case->subjects) : 0.0;
}
double ScanpathViewModel::subjectScore() const {
    if (!m_case || m_subject < 0) return 0.0;
    std::vector<Scanpath> others;
    for (int s = 0; s < subjectCount(); ++s)
        if (s != m_subject) others.push_back(m_case->subjects[s]);
    return meanSequenceScore(subjectPath(m_subject), others);
}

std::string ScanpathViewModel::caption() const {
    if (!m_case) return "no display";
    const DisplaySpec& s = m_case->display.spec;
    char buf[320];
    std::snprintf(buf, sizeof buf, "OAT-lite (%s) | seed %llu, %s, set size %d, target %s | step %d/%d | SS model %.2f, subject %d %.2f",
                  m_model ? m_decode.c_str() : "no model", static_cast<unsigned long long>(s.seed), regimeName(s.regime),
                  s.set_size, s.target_present ? "present" : "absent", m_step + 1, std::max(1, m_steps), modelScore(),
                  m_subject + 1, subjectScore());
    return buf;
}

}  // namespace attnlab
