#include "core/strategy/calibration.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/model/attention.h"
#include "core/tasks/tasks.h"

namespace attnlab {

namespace {
// Saved with every calibration; a file from another version is recomputed. 2: the duo probe's prompts follow
// passkey spec_version 2 and its rows are counted from the prompt's last position.
constexpr int kCalibrationVersion = 2;
}  // namespace

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// Collects per-KV-head maxima of a per-query-head statistic computed from each probability matrix.
class HeadStatObserver : public AttentionObserver {
public:
    using Stat = std::function<std::vector<double>(const at::Tensor& probs, const at::Tensor& qpos)>;
    HeadStatObserver(const ModelConfig& c, size_t stats, Stat stat)
        : m_group(c.num_heads / c.num_kv_heads), m_stat(std::move(stat)) {
        sums.assign(stats, std::vector<std::vector<double>>(static_cast<size_t>(c.num_layers),
                                                            std::vector<double>(static_cast<size_t>(c.num_heads), 0.0)));
    }
    bool wantsLayer(int64_t) const override { return true; }
    bool wantsHead(int64_t, int64_t) const override { return true; }
    void onProbabilities(int64_t layer, int64_t head, const at::Tensor& probs, const at::Tensor& qpos,
                         const at::Tensor&) override {
        std::vector<double> v = m_stat(probs, qpos);
        for (size_t s = 0; s < v.size(); ++s) sums[s][static_cast<size_t>(layer)][static_cast<size_t>(head)] += v[s];
    }
    // [stat][layer][kv_head]: max over the group's query heads of the summed statistic / runs.
    std::vector<std::vector<std::vector<double>>> perKvHead(double runs) const {
        std::vector<std::vector<std::vector<double>>> out;
        for (const auto& stat : sums) {
            std::vector<std::vector<double>> layers;
            for (const auto& heads : stat) {
                std::vector<double> kv(heads.size() / static_cast<size_t>(m_group), 0.0);
                for (size_t h = 0; h < heads.size(); ++h)
                    kv[h / static_cast<size_t>(m_group)] = std::max(kv[h / static_cast<size_t>(m_group)], heads[h] / runs);
                layers.push_back(kv);
            }
            out.push_back(layers);
        }
        return out;
    }
    std::vector<std::vector<std::vector<double>>> sums;  // [stat][layer][query head]

private:
    int64_t m_group;
    Stat m_stat;
};

Result<HeadScores> razorProbe(Model& model, const CalibrationOptions& o) {
    const ModelConfig& c = model.config();
    const int64_t r = std::max<int64_t>(8, std::min(o.razor_repeat_tokens, (c.max_position_embeddings - 1) / 4));
    std::mt19937_64 rng(o.seed + 17);
    const Tokenizer& tok = model.tokenizer();
    std::vector<int32_t> base;
    while (static_cast<int64_t>(base.size()) < r) {
        auto id = static_cast<int32_t>(rng() % static_cast<uint64_t>(tok.vocabSize()));
        if (!tok.isSpecial(id)) base.push_back(id);
    }
    std::vector<int32_t> ids;
    if (!c.bos_token_ids.empty()) ids.push_back(static_cast<int32_t>(c.bos_token_ids.front()));
    const int64_t offset = static_cast<int64_t>(ids.size());
    for (int k = 0; k < 4; ++k) ids.insert(ids.end(), base.begin(), base.end());
    // Rows in copies 2..4: echo = mass on earlier occurrences of the same token, induction = mass on
    // the tokens that followed them.
    HeadStatObserver obs(c, 2, [r, offset](const at::Tensor& probs, const at::Tensor&) {
        auto p = probs.accessor<float, 2>();
        const int64_t t_total = probs.size(0);
        double echo = 0, induction = 0;
        int64_t rows = 0;
        for (int64_t t = offset + r; t < t_total; ++t) {
            const int64_t i = (t - offset) % r, copy = (t - offset) / r;
            for (int64_t j = 0; j < copy; ++j) {
                echo += p[t][offset + j * r + i];
                const int64_t next = offset + j * r + i + 1;
                if (next <= t) induction += p[t][next];
            }
            ++rows;
        }
        return std::vector<double>{induction / std::max<int64_t>(rows, 1), echo / std::max<int64_t>(rows, 1)};
    });
    Status s = model.prefillObserved(ids, obs);
    if (!s.isOk()) return Result<HeadScores>::fail("razor calibration: " + s.error());
    auto per_kv = obs.perKvHead(1.0);
    HeadScores scores;
    scores.kind = "razor";
    scores.scores = per_kv[0];
    scores.secondary = per_kv[1];
    return scores;
}

Result<HeadScores> duoProbe(Model& model, const CalibrationOptions& o) {
    const ModelConfig& c = model.config();
    const int64_t length = std::min(o.duo_length, c.max_position_embeddings - 16);
    const int64_t sink = o.duo_sink, recent = o.duo_recent;
    int64_t answer_rows = 0;
    HeadStatObserver obs(c, 1, [&](const at::Tensor& probs, const at::Tensor& qpos) {
        // Distant mass of the last answer_rows rows: keys in [sink, q - recent] (what sink + recent drops).
        auto p = probs.accessor<float, 2>();
        auto pos = qpos.accessor<int64_t, 1>();
        const int64_t t_total = probs.size(0);
        double mass = 0;
        for (int64_t t = t_total - answer_rows; t < t_total; ++t)
            for (int64_t j = sink; j <= pos[t] - recent; ++j) mass += p[t][j];
        return std::vector<double>{mass / static_cast<double>(std::max<int64_t>(answer_rows, 1))};
    });
    const int64_t bos = c.bos_token_ids.empty() ? -1 : c.bos_token_ids.front();
    for (int64_t i = 0; i < o.duo_prompts; ++i) {
        const double depth = o.duo_prompts > 1 ? 0.1 + 0.8 * double(i) / double(o.duo_prompts - 1) : 0.5;
        std::ostringstream spec;
        spec << "needle:length=" << length << ",depth=" << depth << ",seed=" << (o.seed + 1000 + i);
        auto task = makeTask(spec.str(), o.task_folder, model.tokenizer(), bos);
        if (!task) return Result<HeadScores>::fail("duo calibration: " + task.error());
        std::vector<int32_t> ids = task->prompt_ids;
        std::vector<int32_t> answer = model.tokenizer().encode(task->answer, false);
        ids.insert(ids.end(), answer.begin(), answer.end());
        // The rows that retrieve the answer: the prompt's last (it predicts the first answer token) and the answer's.
        answer_rows = static_cast<int64_t>(answer.size()) + 1;
        Status s = model.prefillObserved(ids, obs);
        if (!s.isOk()) return Result<HeadScores>::fail("duo calibration: " + s.error());
    }
    HeadScores scores;
    scores.kind = "duo";
    scores.scores = obs.perKvHead(static_cast<double>(o.duo_prompts))[0];
    return scores;
}

}  // namespace

Result<std::string> modelContentHash(const std::string& dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name == "config.json" || name == "tokenizer.json" || name == "tokenizer.model" ||
            e.path().extension() == ".safetensors")
            files.push_back(e.path());
    }
    if (ec) return Result<std::string>::fail(dir + ": cannot be listed (" + ec.message() + ")");
    std::sort(files.begin(), files.end());
    uint64_t h = 1469598103934665603ull;
    std::vector<char> buf(1 << 20);
    for (const fs::path& f : files) {
        for (char ch : f.filename().string()) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
        std::ifstream in(f, std::ios::binary);
        if (!in) return Result<std::string>::fail(f.string() + ": cannot be read");
        while (in) {
            in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
            const std::streamsize n = in.gcount();
            for (std::streamsize i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
        }
    }
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
    return std::string(hex);
}

std::string cacheFolder() {
    if (const char* d = std::getenv("ATTNLAB_CACHE_DIR")) return d;
    if (const char* x = std::getenv("XDG_CACHE_HOME")) return std::string(x) + "/attnlab";
    if (const char* home = std::getenv("HOME")) return std::string(home) + "/.cache/attnlab";
    return "/tmp/attnlab-cache";
}

Result<std::string> calibrationPath(const std::string& model_dir, const std::string& kind) {
    Result<std::string> hash = modelContentHash(model_dir);
    if (!hash) return hash;
    return cacheFolder() + "/calibration/" + *hash + "/" + kind + ".json";
}

Result<HeadScores> loadCalibration(const std::string& model_dir, const std::string& kind) {
    using R = Result<HeadScores>;
    Result<std::string> path = calibrationPath(model_dir, kind);
    if (!path) return R::fail(path.error());
    std::ifstream in(*path);
    if (!in) return R::fail(*path + ": no " + kind + " calibration yet");
    try {
        Json j = Json::parse(in);
        HeadScores s;
        s.kind = j.at("kind").get<std::string>();
        s.scores = j.at("scores").get<std::vector<std::vector<double>>>();
        if (j.contains("secondary")) s.secondary = j.at("secondary").get<std::vector<std::vector<double>>>();
        if (s.kind != kind) return R::fail(*path + ": holds a '" + s.kind + "' calibration, not '" + kind + "'");
        if (j.value("version", 1) != kCalibrationVersion)
            return R::fail(*path + ": made by an older probe (version " + std::to_string(j.value("version", 1)) +
                           ", now " + std::to_string(kCalibrationVersion) + ")");
        return s;
    } catch (const std::exception& e) {
        return R::fail(*path + ": damaged calibration file (" + std::string(e.what()) + "); delete it to recompute");
    }
}

Result<HeadScores> runCalibration(Model& model, const std::string& kind, const CalibrationOptions& options) {
    if (kind == "razor") return razorProbe(model, options);
    if (kind == "duo") return duoProbe(model, options);
    return Result<HeadScores>::fail("unknown calibration '" + kind + "' (duo, razor)");
}

Status saveCalibration(const std::string& model_dir, const HeadScores& scores, const CalibrationOptions& o) {
    Result<std::string> path = calibrationPath(model_dir, scores.kind);
    if (!path) return Status::fail(path.error());
    std::error_code ec;
    fs::create_directories(fs::path(*path).parent_path(), ec);
    if (ec) return Status::fail(*path + ": cannot create its folder (" + ec.message() + ")");
    Json j{{"kind", scores.kind},
           {"version", kCalibrationVersion},
           {"model_dir", model_dir},
           {"created_unix_s", static_cast<int64_t>(std::time(nullptr))},
           {"scores", scores.scores},
           {"options",
            {{"razor_repeat_tokens", o.razor_repeat_tokens},
             {"duo_prompts", o.duo_prompts},
             {"duo_length", o.duo_length},
             {"duo_sink", o.duo_sink},
             {"duo_recent", o.duo_recent},
             {"seed", o.seed}}}};
    if (!scores.secondary.empty()) j["secondary"] = scores.secondary;
    const std::string tmp = *path + ".tmp";
    {
        std::ofstream out(tmp);
        out << j.dump(1) << "\n";
        if (!out) return Status::fail(tmp + ": cannot be written");
    }
    fs::rename(tmp, *path, ec);
    if (ec) return Status::fail(*path + ": cannot be written (" + ec.message() + ")");
    return Status::ok();
}

Result<HeadScores> ensureCalibration(Model& model, const std::string& kind, const CalibrationOptions& options) {
    const std::string dir = model.info().dir;
    Result<HeadScores> cached = loadCalibration(dir, kind);
    if (cached) return cached;
    if (options.on_note)
        options.on_note("no usable " + kind + " calibration for this model (" + cached.error() + "): running it first");
    Result<HeadScores> fresh = runCalibration(model, kind, options);
    if (!fresh) return fresh;
    Status saved = saveCalibration(dir, *fresh, options);
    if (options.on_note)
        options.on_note(saved.isOk() ? kind + " calibration saved to " + calibrationPath(dir, kind).value()
                                     : "calibration not saved: " + saved.error());
    return fresh;
}

std::vector<std::vector<int>> topHeads(const std::vector<std::vector<double>>& scores, int64_t count) {
    std::vector<std::pair<size_t, size_t>> order;
    std::vector<std::vector<int>> mask;
    for (size_t l = 0; l < scores.size(); ++l) {
        mask.emplace_back(scores[l].size(), 0);
        for (size_t h = 0; h < scores[l].size(); ++h) order.emplace_back(l, h);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](auto a, auto b) { return scores[a.first][a.second] > scores[b.first][b.second]; });
    for (int64_t i = 0; i < count && i < static_cast<int64_t>(order.size()); ++i)
        mask[order[static_cast<size_t>(i)].first][order[static_cast<size_t>(i)].second] = 1;
    return mask;
}

}  // namespace attnlab
