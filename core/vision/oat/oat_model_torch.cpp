// LibTorch port of OatLite (assets/models/oat/recipe/train.py); op for op the same computation in
// F32 on the CPU, so the parity fixture written by the trainer matches to float tolerance.
#include "core/vision/oat/oat_model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"

namespace attnlab::oat {

namespace {

constexpr double kNeg = -1e9;

at::Tensor affine(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {}) {
    at::Tensor y = at::matmul(x, w.t());
    return b.defined() ? y + b : y;
}

}  // namespace

struct OatModel::Impl {
    std::map<std::string, at::Tensor> w;
    const at::Tensor& get(const std::string& name) const { return w.at(name); }
    at::Tensor ln(const at::Tensor& x, const std::string& p) const {
        return at::layer_norm(x, {x.size(-1)}, get(p + ".weight"), get(p + ".bias"), 1e-5);
    }
    at::Tensor lin(const at::Tensor& x, const std::string& p) const {
        return affine(x, get(p + ".weight"), get(p + ".bias"));
    }
    // x [B,T,d], mem [B,S,d], bias broadcastable to [B,h,T,S].
    at::Tensor attention(const at::Tensor& x, const at::Tensor& mem, const at::Tensor& bias, const std::string& p,
                         int heads, at::Tensor* weights = nullptr) const {
        const int64_t b = x.size(0), t = x.size(1), d = x.size(2), s = mem.size(1), hd = d / heads;
        at::Tensor q = lin(x, p + ".q").view({b, t, heads, hd}).transpose(1, 2);
        at::Tensor k = lin(mem, p + ".k").view({b, s, heads, hd}).transpose(1, 2);
        at::Tensor v = lin(mem, p + ".v").view({b, s, heads, hd}).transpose(1, 2);
        at::Tensor att = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(hd)) + bias;
        att = at::softmax(att, -1);
        if (weights) *weights = att;
        at::Tensor y = at::matmul(att, v).transpose(1, 2).reshape({b, t, d});
        return lin(y, p + ".o");
    }
    at::Tensor cnn(const at::Tensor& crops_u8) const {  // [M,32,32,3] u8 -> [M, d - pe]
        at::Tensor x = crops_u8.permute({0, 3, 1, 2}).to(at::kFloat) / 255.0 - 0.5;
        x = at::max_pool2d(at::relu(at::conv2d(x, get("cnn.c1.weight"), get("cnn.c1.bias"), 1, 1)), 2);
        x = at::max_pool2d(at::relu(at::conv2d(x, get("cnn.c2.weight"), get("cnn.c2.bias"), 1, 1)), 2);
        x = at::max_pool2d(at::relu(at::conv2d(x, get("cnn.c3.weight"), get("cnn.c3.bias"), 1, 1)), 2);
        return lin(x.flatten(1), "cnn.fc");
    }
};

OatModel::~OatModel() = default;

Result<std::unique_ptr<OatModel>> OatModel::load(const std::string& dir) {
    const std::string config_path = dir + "/config.json";
    std::ifstream cf(config_path);
    if (!cf) return Status::fail(config_path + ": cannot open");
    OatConfig cfg;
    try {
        const nlohmann::json j = nlohmann::json::parse(cf);
        cfg.d_model = j.at("d_model").get<int>();
        cfg.pe_dim = j.at("pe_dim").get<int>();
        cfg.heads = j.at("heads").get<int>();
        cfg.ffn = j.at("ffn").get<int>();
        cfg.enc_layers = j.at("enc_layers").get<int>();
        cfg.dec_layers = j.at("dec_layers").get<int>();
        cfg.pointer_heads = j.at("pointer_heads").get<int>();
        cfg.max_steps = j.at("max_steps").get<int>();
    } catch (const std::exception& e) {
        return Status::fail(config_path + ": " + e.what());
    }
    if (cfg.d_model <= 0 || cfg.heads <= 0 || cfg.d_model % cfg.heads != 0 || cfg.pe_dim >= cfg.d_model)
        return Status::fail(config_path + ": inconsistent sizes (d_model must divide by heads and exceed pe_dim)");
    auto file = SafetensorsFile::open(dir + "/model.safetensors");
    if (!file.isOk()) return Status::fail(file.error());
    std::unique_ptr<OatModel> model(new OatModel());
    model->m_config = cfg;
    model->m_impl = std::make_unique<Impl>();
    for (const std::string& name : (*file)->names()) {
        const TensorView* t = (*file)->find(name);
        at::ScalarType type;
        switch (t->dtype) {
            case DType::F16: type = at::kHalf; break;
            case DType::F32: type = at::kFloat; break;
            case DType::BF16: type = at::kBFloat16; break;
            default:
                return Status::fail((*file)->path() + ": tensor '" + name + "' has dtype " + dtypeName(t->dtype) +
                                    " (want F16, F32 or BF16)");
        }
        at::Tensor view = at::from_blob(const_cast<void*>(t->data), t->shape, at::TensorOptions().dtype(type));
        model->m_impl->w[name] = view.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);
    }
    // Every tensor the forward pass reads, with the shapes it relies on.
    std::vector<std::pair<std::string, std::vector<int64_t>>> need = {
        {"pe_table", {640, cfg.pe_dim}}, {"type_emb", {4, cfg.d_model}}, {"stop_token", {cfg.d_model}},
        {"bos_token", {cfg.d_model}},    {"enc_ln.weight", {cfg.d_model}}, {"dec_ln.weight", {cfg.d_model}},
        {"ptr_q.weight", {cfg.pointer_heads * cfg.d_model, cfg.d_model}},
        {"ptr_k.weight", {cfg.pointer_heads * cfg.d_model, cfg.d_model}}, {"ptr_mix.weight", {1, cfg.pointer_heads}},
        {"cnn.fc.weight", {cfg.d_model - cfg.pe_dim, 1024}}};
    for (int i = 0; i < cfg.enc_layers; ++i) need.push_back({"enc." + std::to_string(i) + ".ff1.weight", {cfg.ffn, cfg.d_model}});
    for (int i = 0; i < cfg.dec_layers; ++i)
        need.push_back({"dec." + std::to_string(i) + ".cross_attn.q.weight", {cfg.d_model, cfg.d_model}});
    for (const auto& [name, shape] : need) {
        auto it = model->m_impl->w.find(name);
        if (it == model->m_impl->w.end()) return Status::fail(dir + "/model.safetensors: missing tensor '" + name + "'");
        if (it->second.sizes().vec() != shape)
            return Status::fail(dir + "/model.safetensors: tensor '" + name + "' has shape " +
                                c10::str(it->second.sizes()) + ", config.json implies " + c10::str(at::IntArrayRef(shape)));
    }
    if (model->m_impl->w.at("step_code").size(0) < cfg.max_steps + 1)
        return Status::fail(dir + "/model.safetensors: step_code shorter than max_steps + 1");
    return Result<std::unique_ptr<OatModel>>(std::move(model));
}

Result<std::vector<float>> OatModel::logits(const OatInputs& in, const std::vector<int64_t>& prev) const {
    return forward(in, prev, nullptr);
}

Result<std::vector<float>> OatModel::forward(const OatInputs& in, const std::vector<int64_t>& prev,
                                              std::vector<float>* cross_attention) const {
    const int64_t n = in.objects, d = m_config.d_model, t = static_cast<int64_t>(prev.size());
    if (n <= 0 || in.crops.size() != static_cast<size_t>(n) * 32 * 32 * 3 || in.cells.size() != static_cast<size_t>(n) ||
        in.cue.size() != 32u * 32u * 3u)
        return Status::fail("oat model: inputs need N > 0 objects with [N,32,32,3] crops, [N] cells and a [32,32,3] cue");
    if (t == 0 || t > m_config.max_steps + 1 || prev[0] != -1)
        return Status::fail("oat model: prev must start with -1 (BOS) and have at most max_steps + 1 entries");
    for (int64_t c : in.cells)
        if (c < 0 || c >= 640) return Status::fail("oat model: grid cell " + std::to_string(c) + " outside 0..639");
    for (int64_t i = 1; i < t; ++i)
        if (prev[i] < 0 || prev[i] >= n) return Status::fail("oat model: prev[" + std::to_string(i) + "] is not an object index");
    try {
        at::NoGradGuard no_grad;
        const Impl& m = *m_impl;
        at::Tensor crops = at::from_blob(const_cast<uint8_t*>(in.crops.data()), {n, 32, 32, 3}, at::kByte);
        at::Tensor cue = at::from_blob(const_cast<uint8_t*>(in.cue.data()), {1, 32, 32, 3}, at::kByte);
        at::Tensor cells = at::from_blob(const_cast<int64_t*>(in.cells.data()), {n}, at::kLong);
        const at::Tensor& types = m.get("type_emb");
        at::Tensor pe = m.get("pe_table").index_select(0, cells);
        at::Tensor obj = (at::cat({m.cnn(crops), pe}, -1) + types[0]).unsqueeze(0);  // [1,N,d]
        at::Tensor cue_tok = at::cat({m.cnn(cue), at::zeros({1, m_config.pe_dim})}, -1) + types[1];
        at::Tensor stop = (m.get("stop_token") + types[2]).view({1, 1, d});
        at::Tensor x = at::cat({obj, cue_tok.unsqueeze(0), stop}, 1);  // [1,N+2,d]
        at::Tensor enc_bias = at::zeros({1, 1, 1, n + 2});
        for (int i = 0; i < m_config.enc_layers; ++i) {
            const std::string p = "enc." + std::to_string(i);
            at::Tensor h = m.ln(x, p + ".ln1");
            x = x + m.attention(h, h, enc_bias, p + ".attn", m_config.heads);
            x = x + m.lin(at::gelu(m.lin(m.ln(x, p + ".ln2"), p + ".ff1")), p + ".ff2");
        }
        at::Tensor enc = m.ln(x, "enc_ln");

        std::vector<int64_t> idx(prev.begin(), prev.end());
        idx[0] = 0;
        at::Tensor prev_t = at::from_blob(idx.data(), {t}, at::kLong).clone();
        at::Tensor y = obj[0].index_select(0, prev_t);
        y[0] = m.get("bos_token") + types[3];
        y = (y + m.get("step_code").slice(0, 0, t)).unsqueeze(0);  // [1,T,d]
        at::Tensor causal = at::triu(at::full({t, t}, kNeg), 1).view({1, 1, t, t});
        at::Tensor cross;
        for (int i = 0; i < m_config.dec_layers; ++i) {
            const std::string p = "dec." + std::to_string(i);
            at::Tensor h = m.ln(y, p + ".ln1");
            y = y + m.attention(h, h, causal, p + ".self_attn", m_config.heads);
            at::Tensor* keep = (cross_attention && i + 1 == m_config.dec_layers) ? &cross : nullptr;
            y = y + m.attention(m.ln(y, p + ".ln2"), enc, enc_bias, p + ".cross_attn", m_config.heads, keep);
            y = y + m.lin(at::gelu(m.lin(m.ln(y, p + ".ln3"), p + ".ff1")), p + ".ff2");
        }
        at::Tensor h = m.ln(y, "dec_ln");
        const int64_t hp = m_config.pointer_heads;
        at::Tensor cand = at::cat({enc.slice(1, 0, n), enc.slice(1, n + 1, n + 2)}, 1);  // objects + STOP
        at::Tensor q = affine(h, m.get("ptr_q.weight")).view({1, t, hp, d}).transpose(1, 2);
        at::Tensor k = affine(cand, m.get("ptr_k.weight")).view({1, n + 1, hp, d}).transpose(1, 2);
        at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(d));
        at::Tensor out = affine(scores.permute({0, 2, 3, 1}), m.get("ptr_mix.weight"), m.get("ptr_mix.bias")).squeeze(-1);
        out = out[0].contiguous();  // [T, N+1]
        out[0][n] = kNeg;           // at least one fixation
        if (cross_attention) {
            at::Tensor c = cross[0].mean(0).contiguous();  // [T, N+2], mean over heads
            cross_attention->assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
        }
        return std::vector<float>(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
    } catch (const c10::Error& e) {
        return Status::fail(std::string("oat model: ") + e.what_without_backtrace());
    }
}

Result<std::vector<int>> OatModel::greedy(const OatInputs& in) const {
    std::vector<int64_t> prev{-1};
    std::vector<int> path;
    const int n = in.objects;
    for (int step = 0; step < m_config.max_steps; ++step) {
        auto l = logits(in, prev);
        if (!l.isOk()) return Status::fail(l.error());
        const float* row = l->data() + static_cast<size_t>(step) * (n + 1);
        int best = 0;
        for (int j = 1; j <= n; ++j)
            if (row[j] > row[best]) best = j;
        if (best == n || step == m_config.max_steps - 1) break;
        path.push_back(best);
        prev.push_back(best);
    }
    return path;
}

}  // namespace attnlab::oat

namespace attnlab::oat {

namespace {

// splitmix64: small, seedable, the same on every platform.
struct SplitMix {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
};

double seqScore(const std::vector<int>& a, const std::vector<int>& b) {
    const size_t m = std::max(a.size(), b.size());
    if (m == 0) return 1.0;
    std::vector<int> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
    for (int x : a) {
        cur[0] = 0;
        for (size_t j = 0; j < b.size(); ++j) cur[j + 1] = x == b[j] ? prev[j] + 1 : std::max(prev[j + 1], cur[j]);
        std::swap(prev, cur);
    }
    return static_cast<double>(prev[b.size()]) / static_cast<double>(m);
}

}  // namespace

Result<std::vector<int>> OatModel::sample(const OatInputs& in, uint64_t seed, double* log_prob) const {
    SplitMix rng{seed * 0x2545F4914F6CDD1Dull + 1};
    std::vector<int64_t> prev{-1};
    std::vector<int> path;
    const int n = in.objects;
    double lp = 0;
    for (int step = 0; step < m_config.max_steps; ++step) {
        auto l = logits(in, prev);
        if (!l.isOk()) return Status::fail(l.error());
        const float* row = l->data() + static_cast<size_t>(step) * (n + 1);
        double mx = row[0];
        for (int j = 1; j <= n; ++j) mx = std::max(mx, static_cast<double>(row[j]));
        std::vector<double> p(n + 1);
        double sum = 0;
        for (int j = 0; j <= n; ++j) sum += (p[j] = std::exp(row[j] - mx));
        int choice = n;
        if (step < m_config.max_steps - 1) {
            double u = rng.uniform() * sum;
            choice = 0;
            while (choice < n && u >= p[choice]) u -= p[choice++];
        }
        lp += std::log(std::max(p[choice] / sum, 1e-300));
        if (choice == n) break;
        path.push_back(choice);
        prev.push_back(choice);
    }
    if (log_prob) *log_prob = lp;
    return path;
}

Result<std::vector<int>> OatModel::mbr(const OatInputs& in, int samples, uint64_t seed) const {
    if (samples < 1) return Status::fail("oat model: mbr needs at least one sample");
    std::vector<std::vector<int>> paths;
    std::vector<double> lps;
    for (int k = 0; k < samples; ++k) {
        double lp = 0;
        auto p = sample(in, seed + static_cast<uint64_t>(k), &lp);
        if (!p.isOk()) return p;
        paths.push_back(std::move(*p));
        lps.push_back(lp);
    }
    int best = 0;
    double best_score = -1, best_lp = -1e300;
    for (int i = 0; i < samples; ++i) {
        double total = 0;
        for (int j = 0; j < samples; ++j)
            if (j != i) total += seqScore(paths[i], paths[j]);
        const double score = samples > 1 ? total / (samples - 1) : 1.0;
        if (score > best_score + 1e-12 || (std::fabs(score - best_score) <= 1e-12 && lps[i] > best_lp)) {
            best = i;
            best_score = score;
            best_lp = lps[i];
        }
    }
    return paths[best];
}

Result<OatModel::Trace> OatModel::trace(const OatInputs& in, const std::vector<int>& path) const {
    if (static_cast<int>(path.size()) > m_config.max_steps)
        return Status::fail("oat model: trace of a path longer than max_steps");
    std::vector<int64_t> prev{-1};
    for (int o : path) prev.push_back(o);
    std::vector<float> cross;
    auto l = forward(in, prev, &cross);
    if (!l.isOk()) return Status::fail(l.error());
    Trace t;
    t.objects = in.objects;
    t.steps = static_cast<int>(prev.size());
    const int w = in.objects + 1;
    t.pointer.resize(static_cast<size_t>(t.steps) * w);
    for (int s = 0; s < t.steps; ++s) {
        const float* row = l->data() + static_cast<size_t>(s) * w;
        float mx = row[0];
        for (int j = 1; j < w; ++j) mx = std::max(mx, row[j]);
        double sum = 0;
        for (int j = 0; j < w; ++j) sum += std::exp(static_cast<double>(row[j] - mx));
        for (int j = 0; j < w; ++j) t.pointer[static_cast<size_t>(s) * w + j] = static_cast<float>(std::exp(row[j] - mx) / sum);
    }
    t.attention = std::move(cross);
    return t;
}

}  // namespace attnlab::oat
