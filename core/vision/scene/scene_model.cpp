// LibTorch (ATen) inference of the scene planner and renderer; mirrors train.py op for op.
#include "core/vision/scene/scene_model.h"

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/io/safetensors.h"

namespace attnlab::scene {

namespace {

constexpr int kGrid = 8;
constexpr int kT = 1 + kMaxObjects;  // tokens incl. background

at::Tensor gridCode(int res) {
    at::Tensor lin = at::linspace(-1.0, 1.0, res, at::kFloat);
    at::Tensor ys = lin.view({res, 1}).expand({res, res});
    at::Tensor xs = lin.view({1, res}).expand({res, res});
    std::vector<at::Tensor> f;
    for (int i = 0; i < kGrid / 4; ++i) {
        const double fr = std::pow(2.0, i) * M_PI;
        f.push_back(at::sin(xs * fr));
        f.push_back(at::cos(xs * fr));
        f.push_back(at::sin(ys * fr));
        f.push_back(at::cos(ys * fr));
    }
    return at::stack(f, 0).unsqueeze(0).contiguous();
}

}  // namespace

struct SceneModel::Impl {
    std::map<std::string, at::Tensor> w;
    // planner
    int d = 0, layers = 0, heads = 0, seq = 0, vocab = 0, bos = 0, stop = 0;
    std::map<std::string, int> off;
    at::Tensor slot_mask;  // (seq, vocab)
    // renderer
    int dt = 0, dz = 0, dq = 0;
    std::vector<int> widths;
    float eps = 0.02f;
    std::map<int, at::Tensor> grids;

    const at::Tensor& get(const std::string& name) const {
        auto it = w.find(name);
        if (it == w.end()) throw Error("scene model: weight '" + name + "' missing from model.safetensors");
        return it->second;
    }
    at::Tensor lin(const at::Tensor& x, const std::string& p) const {
        return at::linear(x, get(p + ".weight"), get(p + ".bias"));
    }
    at::Tensor ln(const at::Tensor& x, const std::string& p) const {
        return at::layer_norm(x, {x.size(-1)}, get(p + ".weight"), get(p + ".bias"), 1e-5);
    }
    at::Tensor conv(const at::Tensor& x, const std::string& p, int pad) const {
        return at::conv2d(x, get(p + ".weight"), get(p + ".bias"), 1, pad);
    }

    void buildSlotMask() {
        slot_mask = at::full({seq, vocab}, -INFINITY, at::kFloat);
        auto allow = [&](int t, int a, int n) { slot_mask.index({t}).narrow(0, a, n).fill_(0.0); };
        const int K = kMaxObjects;
        for (int t = 0; t < seq; ++t) {
            const int nxt = t + 1;
            if (nxt >= seq) {
                allow(t, stop, 1);
                continue;
            }
            const int slot = (nxt - 1) % 6, obj = (nxt - 1) / 6;
            if (slot == 0) {
                if (obj >= K) {
                    allow(t, stop, 1);
                } else {
                    allow(t, off["qy"], kPosBins);
                    if (obj >= 1) allow(t, stop, 1);
                }
            } else if (slot == 1) {
                allow(t, off["qx"], kPosBins);
            } else if (slot == 2) {
                allow(t, off["shape"], kNumShapes);
            } else if (slot == 3) {
                allow(t, off["colour"], kNumColours);
            } else if (slot == 4) {
                allow(t, off["size"], kNumSizes);
            } else {
                allow(t, off["material"], kNumMaterials);
            }
        }
    }

    at::Tensor planner(const at::Tensor& s) const {  // (B, L) int64 -> (B, L, V)
        const int64_t B = s.size(0), L = s.size(1);
        at::Tensor x = at::embedding(get("planner.tok.weight"), s) +
                       get("planner.pos.weight").narrow(0, 0, L).unsqueeze(0);
        const int dh = d / heads;
        at::Tensor causal = at::ones({L, L}, at::kBool).triu(1);
        for (int i = 0; i < layers; ++i) {
            const std::string p = "planner.blocks." + std::to_string(i);
            at::Tensor qkv = lin(ln(x, p + ".ln1"), p + ".qkv").view({B, L, 3, heads, dh}).permute({2, 0, 3, 1, 4});
            at::Tensor att = at::matmul(qkv[0], qkv[1].transpose(-1, -2)) / std::sqrt(double(dh));
            att = at::softmax(att.masked_fill(causal, -INFINITY), -1);
            at::Tensor y = at::matmul(att, qkv[2]).transpose(1, 2).reshape({B, L, d});
            x = x + lin(y, p + ".proj");
            x = x + lin(at::gelu(lin(ln(x, p + ".ln2"), p + ".fc1")), p + ".fc2");
        }
        at::Tensor logits = lin(ln(x, "planner.ln"), "planner.head") + slot_mask.narrow(0, 0, L).unsqueeze(0);
        return logits.clamp_min(-1e4);
    }

    at::Tensor modulation(const at::Tensor& x, const std::string& p, const at::Tensor& grid, const at::Tensor& tok,
                          const at::Tensor& key_add, const at::Tensor& masks, std::vector<at::Tensor>* attn) const {
        const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
        at::Tensor q = at::conv2d(at::cat({x, grid.expand({B, -1, -1, -1})}, 1), get(p + ".q.weight"),
                                  get(p + ".q.bias"))
                           .flatten(2)
                           .transpose(1, 2);
        at::Tensor k = lin(tok, p + ".k");
        at::Tensor logits = at::matmul(q, k.transpose(1, 2)) / std::sqrt(double(dq)) + key_add.unsqueeze(1);
        auto beta = w.find(p + ".beta");
        if (beta != w.end()) {
            at::Tensor m = at::adaptive_avg_pool2d(masks, {H, W}).flatten(2).transpose(1, 2);
            logits = logits + beta->second * at::log(m + eps);
        }
        at::Tensor a = at::softmax(logits, -1);
        if (attn) attn->push_back(a);
        at::Tensor gb = at::matmul(a, lin(tok, p + ".gb")).transpose(1, 2).reshape({B, 2 * C, H, W});
        auto gbs = gb.chunk(2, 1);
        const int groups = C % 8 == 0 ? 8 : 4;
        return at::group_norm(x, groups, {}, {}, 1e-5) * (1 + gbs[0]) + gbs[1];
    }

    at::Tensor renderer(const at::Tensor& tokens, const at::Tensor& counts, const at::Tensor& inst,
                        const at::Tensor& noise, std::vector<at::Tensor>* attn) const {
        const int64_t B = tokens.size(0);
        at::Tensor masks = at::one_hot(inst.to(at::kLong), kT).permute({0, 3, 1, 2}).to(at::kFloat);
        at::Tensor t = tokens.masked_fill(tokens == 255, 0);
        at::Tensor rank = at::arange(kMaxObjects, at::kLong).unsqueeze(0).expand({B, kMaxObjects});
        auto emb = [&](const char* n, int field) {
            return at::embedding(get(std::string("renderer.") + n + ".weight"), t.select(2, field));
        };
        at::Tensor obj = emb("e_shape", 0) + emb("e_colour", 1) + emb("e_size", 2) + emb("e_mat", 3) +
                         emb("e_qx", 4) + emb("e_qy", 5) + at::embedding(get("renderer.e_rank.weight"), rank);
        at::Tensor allt = at::cat({get("renderer.bg").view({1, 1, -1}).expand({B, 1, dt}), obj}, 1) +
                          lin(noise, "renderer.noise");
        at::Tensor tok = allt + lin(at::leaky_relu(lin(allt, "renderer.mlp.0"), 0.2), "renderer.mlp.2");
        at::Tensor present = at::cat({at::ones({B, 1}, at::kBool), rank < counts.unsqueeze(1)}, 1);
        at::Tensor key_add = at::zeros({B, kT}, at::kFloat).masked_fill(present.logical_not(), -1e4);
        at::Tensor x = conv(at::cat({get("renderer.const").expand({B, -1, -1, -1}), grids.at(8).expand({B, -1, -1, -1})}, 1),
                            "renderer.c_in", 0);
        const int res[4] = {8, 16, 32, 64};
        for (int b = 0; b < 4; ++b) {
            const std::string p = "renderer.blocks." + std::to_string(b);
            if (b > 0) x = at::upsample_nearest2d(x, {res[b], res[b]});
            const at::Tensor& g = grids.at(res[b]);
            x = modulation(at::leaky_relu(conv(x, p + ".c1", 1), 0.2), p + ".m1", g, tok, key_add, masks, attn);
            x = modulation(at::leaky_relu(conv(x, p + ".c2", 1), 0.2), p + ".m2", g, tok, key_add, masks, attn);
        }
        return conv(at::leaky_relu(x, 0.2), "renderer.rgb", 0);
    }
};

SceneModel::SceneModel() : m(std::make_unique<Impl>()) {}
SceneModel::~SceneModel() = default;

Result<std::unique_ptr<SceneModel>> SceneModel::load(const std::string& dir) {
    const std::string cfg_path = dir + "/config.json";
    std::ifstream f(cfg_path);
    if (!f) return Result<std::unique_ptr<SceneModel>>::fail("scene model: cannot open " + cfg_path);
    nlohmann::json cfg;
    try {
        f >> cfg;
    } catch (const std::exception& e) {
        return Result<std::unique_ptr<SceneModel>>::fail("scene model: " + cfg_path + " is not valid JSON: " + e.what());
    }
    std::unique_ptr<SceneModel> model(new SceneModel());
    Impl& im = *model->m;
    try {
        if (cfg.value("model_type", "") != "attnlab-scene-plan-render")
            return Result<std::unique_ptr<SceneModel>>::fail("scene model: " + cfg_path +
                                                             ": model_type is not attnlab-scene-plan-render");
        if (cfg.at("max_objects").get<int>() != kMaxObjects || cfg.at("pos_bins").get<int>() != kPosBins ||
            cfg.at("image_size").get<int>() != kImageSize)
            return Result<std::unique_ptr<SceneModel>>::fail("scene model: " + cfg_path +
                                                             ": image size / object slots / bins differ from this build");
        const auto& p = cfg.at("planner");
        im.d = p.at("d_model");
        im.layers = p.at("layers");
        im.heads = p.at("heads");
        im.seq = p.at("seq_len");
        im.vocab = p.at("vocab");
        for (auto it = p.at("vocab_offsets").begin(); it != p.at("vocab_offsets").end(); ++it)
            im.off[it.key()] = it.value().get<int>();
        im.bos = im.off.at("bos");
        im.stop = im.off.at("stop");
        const auto& r = cfg.at("renderer");
        im.dt = r.at("token_dim");
        im.dz = r.at("noise_dim");
        im.dq = r.at("query_dim");
        im.widths = r.at("widths").get<std::vector<int>>();
        im.eps = r.at("mask_eps");
    } catch (const std::exception& e) {
        return Result<std::unique_ptr<SceneModel>>::fail("scene model: " + cfg_path + ": missing or bad field: " + e.what());
    }
    auto file = SafetensorsFile::open(dir + "/model.safetensors");
    if (!file) return Result<std::unique_ptr<SceneModel>>::fail(file.error());
    for (const std::string& name : file.value()->names()) {
        const TensorView* t = file.value()->find(name);
        at::ScalarType st;
        switch (t->dtype) {
        case DType::F32: st = at::kFloat; break;
        case DType::F16: st = at::kHalf; break;
        case DType::BF16: st = at::kBFloat16; break;
        default:
            return Result<std::unique_ptr<SceneModel>>::fail("scene model: " + t->file + ": tensor '" + name +
                                                             "' has unsupported dtype " + dtypeName(t->dtype));
        }
        at::Tensor view = at::from_blob(const_cast<void*>(t->data), t->shape, at::TensorOptions().dtype(st));
        im.w[name] = view.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);
    }
    im.buildSlotMask();
    for (int res : {8, 16, 32, 64}) im.grids[res] = gridCode(res);
    try {  // fail early with a named tensor rather than deep inside a forward pass
        for (const char* n : {"planner.tok.weight", "planner.head.weight", "renderer.const", "renderer.rgb.weight"})
            (void)im.get(n);
        if (im.get("planner.tok.weight").size(0) != im.vocab || im.get("planner.tok.weight").size(1) != im.d)
            throw Error("scene model: planner.tok.weight shape does not match config.json");
    } catch (const Error& e) {
        return Result<std::unique_ptr<SceneModel>>::fail(e.what());
    }
    return model;
}

int SceneModel::vocab() const { return m->vocab; }
int SceneModel::seqLen() const { return m->seq; }
int SceneModel::noiseDim() const { return m->dz; }
int SceneModel::bos() const { return m->bos; }

std::vector<float> SceneModel::plannerLogits(const std::vector<int64_t>& seq) const {
    if (seq.empty() || int(seq.size()) > m->seq) throw Error("scene planner: sequence length out of range");
    at::NoGradGuard ng;
    at::Tensor s = at::tensor(seq, at::kLong).unsqueeze(0);
    at::Tensor out = m->planner(s).contiguous();
    return std::vector<float>(out.data_ptr<float>(), out.data_ptr<float>() + out.numel());
}

std::vector<Token> SceneModel::samplePlanner(uint64_t seed, float temperature) const {
    Rng rng(seed ^ 0x5CE9E5EEDull);
    std::vector<int64_t> seq = {m->bos};
    std::vector<Token> out;
    std::vector<int> cur;
    while (int(seq.size()) < m->seq) {
        const std::vector<float> logits = plannerLogits(seq);
        const float* row = logits.data() + (seq.size() - 1) * size_t(m->vocab);
        std::vector<double> p(m->vocab);
        double mx = -1e30, sum = 0;
        for (int v = 0; v < m->vocab; ++v) mx = std::max(mx, double(row[v]) / temperature);
        for (int v = 0; v < m->vocab; ++v) sum += (p[v] = row[v] <= -1e4 ? 0.0 : std::exp(row[v] / temperature - mx));
        double u = rng.uniform() * sum;
        int pick = m->stop;
        for (int v = 0; v < m->vocab; ++v) {
            if (p[v] <= 0) continue;
            pick = v;
            if ((u -= p[v]) < 0) break;
        }
        if (pick == m->stop) break;
        seq.push_back(pick);
        cur.push_back(pick);
        if (cur.size() == 6) {
            Token t;
            t.qy = cur[0] - m->off["qy"];
            t.qx = cur[1] - m->off["qx"];
            t.shape = cur[2] - m->off["shape"];
            t.colour = cur[3] - m->off["colour"];
            t.size = cur[4] - m->off["size"];
            t.material = cur[5] - m->off["material"];
            out.push_back(t);
            cur.clear();
        }
    }
    return out;
}

RendererOutput SceneModel::render(const std::vector<Token>& tokens, const std::vector<uint8_t>& instance,
                                  const std::vector<float>& noise, bool keep_attention) const {
    const int P = kImageSize * kImageSize;
    if (tokens.size() > size_t(kMaxObjects)) throw Error("scene renderer: more than 8 objects");
    if (instance.size() != size_t(P)) throw Error("scene renderer: instance map must be 64x64");
    if (noise.size() != size_t(kT * m->dz)) throw Error("scene renderer: noise must be (1+8) x noise_dim");
    at::NoGradGuard ng;
    at::Tensor tok = at::full({1, kMaxObjects, 6}, 255, at::kLong);
    for (size_t i = 0; i < tokens.size(); ++i) {
        const Token& t = tokens[i];
        const int64_t v[6] = {t.shape, t.colour, t.size, t.material, t.qx, t.qy};
        for (int j = 0; j < 6; ++j) tok[0][int64_t(i)][j] = v[j];
    }
    at::Tensor cnt = at::full({1}, int64_t(tokens.size()), at::kLong);
    at::Tensor inst = at::from_blob(const_cast<uint8_t*>(instance.data()), {1, kImageSize, kImageSize}, at::kByte).clone();
    at::Tensor nz = at::from_blob(const_cast<float*>(noise.data()), {1, kT, m->dz}, at::kFloat).clone();
    std::vector<at::Tensor> attn;
    at::Tensor img = m->renderer(tok, cnt, inst, nz, keep_attention ? &attn : nullptr).contiguous();
    RendererOutput out;
    out.image.assign(img.data_ptr<float>(), img.data_ptr<float>() + img.numel());
    for (const at::Tensor& a : attn) {
        at::Tensor c = a[0].contiguous();
        out.attention.emplace_back(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
        out.attention_res.push_back(int(std::lround(std::sqrt(double(c.size(0))))));
    }
    return out;
}

std::vector<uint8_t> SceneModel::renderLayoutImage(const std::vector<Token>& tokens) const {
    Layout layout;
    for (const Token& t : tokens) layout.push_back(fromToken(t));
    const RenderedScene r = renderLayout(layout);
    std::vector<Token> sorted;
    for (const RenderedObject& o : r.objects) sorted.push_back(toToken(o.object));
    const RendererOutput out = render(sorted, r.instance, std::vector<float>(size_t(kT * m->dz), 0.f));
    const int P = kImageSize * kImageSize;
    std::vector<uint8_t> rgb(size_t(P) * 3);
    for (int c = 0; c < 3; ++c)
        for (int k = 0; k < P; ++k)
            rgb[size_t(k) * 3 + c] =
                uint8_t(std::lround(std::clamp((out.image[size_t(c) * P + k] + 1.f) * 127.5f, 0.f, 255.f)));
    return rgb;
}

}  // namespace attnlab::scene
