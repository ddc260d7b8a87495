#include "core/model/transformer.h"
#if ATTNLAB_KERNELS_CUDA
#include "kernels/decode_fused_torch.h"
#endif

#include <ATen/ATen.h>

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>

#include "core/util/torch_compat.h"

namespace attnlab {

namespace {

std::string shapeText(const std::vector<int64_t>& shape) {
    std::ostringstream ss;
    ss << "[";
    for (size_t i = 0; i < shape.size(); ++i) ss << (i ? ", " : "") << shape[i];
    ss << "]";
    return ss.str();
}

// Reads checkpoint tensors onto the target device and dtype, checking names and shapes.
class WeightLoader {
public:
    WeightLoader(const Checkpoint& checkpoint, at::Device device, at::ScalarType dtype)
        : m_checkpoint(checkpoint), m_device(device), m_dtype(dtype) {}

    bool has(const std::string& name) const { return m_checkpoint.find(name) != nullptr; }

    at::Tensor get(const std::string& name, const std::vector<int64_t>& expected_shape, bool required = true) const {
        const TensorView* t = m_checkpoint.find(name);
        if (!t) {
            if (!required) return at::Tensor();
            throw Error(m_checkpoint.dir() + ": tensor '" + name + "' is missing from the checkpoint");
        }
        if (t->shape != expected_shape)
            throw Error(t->file + ": tensor '" + name + "' has shape " + shapeText(t->shape) +
                        " but config.json implies " + shapeText(expected_shape));
        at::ScalarType source;
        switch (t->dtype) {
            case DType::F32: source = at::kFloat; break;
            case DType::F16: source = at::kHalf; break;
            case DType::BF16: source = at::kBFloat16; break;
            default:
                throw Error(t->file + ": tensor '" + name + "' has dtype " + dtypeName(t->dtype) +
                            " (supported: F32, F16, BF16)");
        }
        // from_blob views the read-only mapping; to(..., copy=true) always makes our own copy.
        at::Tensor view = at::from_blob(const_cast<void*>(t->data), t->shape, at::TensorOptions().dtype(source));
        return view.to(m_device, m_dtype, /*non_blocking=*/false, /*copy=*/true);
    }

private:
    const Checkpoint& m_checkpoint;
    at::Device m_device;
    at::ScalarType m_dtype;
};

}  // namespace

at::Tensor rotateHalf(const at::Tensor& x) {
    const int64_t half = x.size(-1) / 2;
    return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
}

at::Tensor ropeInverseFrequencies(const RopeConfig& rope, int64_t head_dim) {
    // Same float32 operations as transformers' rope initialisers, so positions up to 128K agree.
    at::Tensor exponents = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
    at::Tensor inv_freq = 1.0 / at::pow(rope.theta, exponents);
    if (rope.scaling == RopeScaling::Linear) return inv_freq / rope.factor;
    if (rope.scaling == RopeScaling::Llama3) {
        const double old_len = static_cast<double>(rope.original_max_position_embeddings);
        const double low_wavelen = old_len / rope.low_freq_factor;
        const double high_wavelen = old_len / rope.high_freq_factor;
        at::Tensor wavelen = 2.0 * M_PI / inv_freq;
        at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / rope.factor, inv_freq);
        at::Tensor smooth = (old_len / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
        at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
        at::Tensor is_medium = (wavelen < high_wavelen).logical_not().logical_and((wavelen > low_wavelen).logical_not());
        return at::where(is_medium, smoothed, scaled);
    }
    return inv_freq;
}

Transformer::Transformer(const ModelConfig& config, const Checkpoint& checkpoint, at::Device device,
                         at::ScalarType dtype)
    : m_config(config), m_device(device), m_dtype(dtype) {
    WeightLoader w(checkpoint, device, dtype);
    const ModelConfig& c = m_config;
    const int64_t h = c.hidden_size;
    const int64_t q_dim = c.num_heads * c.head_dim;
    const int64_t kv_dim = c.num_kv_heads * c.head_dim;
    const int64_t inter = c.intermediate_size;
    m_layers.resize(static_cast<size_t>(c.num_layers));

    if (c.architecture == Architecture::Gpt2) {
        // GPT2LMHeadModel saves "transformer.*"; a bare GPT2Model saves without the prefix.
        const std::string p = w.has("transformer.wte.weight") ? "transformer." : "";
        m_embed = w.get(p + "wte.weight", {c.vocab_size, h});
        m_pos_embed = w.get(p + "wpe.weight", {c.max_position_embeddings, h});
        m_final_w = w.get(p + "ln_f.weight", {h});
        m_final_b = w.get(p + "ln_f.bias", {h});
        for (int64_t i = 0; i < c.num_layers; ++i) {
            Layer& L = m_layers[static_cast<size_t>(i)];
            const std::string lp = p + "h." + std::to_string(i) + ".";
            L.norm1_w = w.get(lp + "ln_1.weight", {h});
            L.norm1_b = w.get(lp + "ln_1.bias", {h});
            L.norm2_w = w.get(lp + "ln_2.weight", {h});
            L.norm2_b = w.get(lp + "ln_2.bias", {h});
            // Conv1D stores [in, out]; keep [out, in] for at::linear.
            L.wqkv = w.get(lp + "attn.c_attn.weight", {h, 3 * h}).t().contiguous();
            L.bqkv = w.get(lp + "attn.c_attn.bias", {3 * h});
            L.wo = w.get(lp + "attn.c_proj.weight", {h, h}).t().contiguous();
            L.bo = w.get(lp + "attn.c_proj.bias", {h});
            L.w_up = w.get(lp + "mlp.c_fc.weight", {h, inter}).t().contiguous();
            L.b_up = w.get(lp + "mlp.c_fc.bias", {inter});
            L.w_down = w.get(lp + "mlp.c_proj.weight", {inter, h}).t().contiguous();
            L.b_down = w.get(lp + "mlp.c_proj.bias", {h});
        }
        m_lm_head = c.tie_word_embeddings ? m_embed : w.get("lm_head.weight", {c.vocab_size, h});
        return;
    }

    m_embed = w.get("model.embed_tokens.weight", {c.vocab_size, h});
    m_final_w = w.get("model.norm.weight", {h});
    for (int64_t i = 0; i < c.num_layers; ++i) {
        Layer& L = m_layers[static_cast<size_t>(i)];
        const std::string lp = "model.layers." + std::to_string(i) + ".";
        L.norm1_w = w.get(lp + "input_layernorm.weight", {h});
        L.norm2_w = w.get(lp + "post_attention_layernorm.weight", {h});
        // Stacked [q; k; v] and [gate; up]: one matrix product each (prefill, eager and graphed decode).
        L.wqkv = at::cat({w.get(lp + "self_attn.q_proj.weight", {q_dim, h}),
                          w.get(lp + "self_attn.k_proj.weight", {kv_dim, h}),
                          w.get(lp + "self_attn.v_proj.weight", {kv_dim, h})});
        L.wo = w.get(lp + "self_attn.o_proj.weight", {h, q_dim});
        if (c.has_qkv_bias) {
            L.bqkv = at::cat({w.get(lp + "self_attn.q_proj.bias", {q_dim}), w.get(lp + "self_attn.k_proj.bias", {kv_dim}),
                              w.get(lp + "self_attn.v_proj.bias", {kv_dim})});
        }
        if (c.has_o_bias) L.bo = w.get(lp + "self_attn.o_proj.bias", {h});
        L.w_gu = at::cat({w.get(lp + "mlp.gate_proj.weight", {inter, h}), w.get(lp + "mlp.up_proj.weight", {inter, h})});
        L.w_down = w.get(lp + "mlp.down_proj.weight", {h, inter});
        if (c.has_mlp_bias) {
            L.b_gu = at::cat({w.get(lp + "mlp.gate_proj.bias", {inter}), w.get(lp + "mlp.up_proj.bias", {inter})});
            L.b_down = w.get(lp + "mlp.down_proj.bias", {h});
        }
    }
    m_lm_head = c.tie_word_embeddings ? m_embed : w.get("lm_head.weight", {c.vocab_size, h});
    m_inv_freq = ropeInverseFrequencies(c.rope, c.head_dim).to(device);
}

KvCache Transformer::makeCache() const {
    return KvCache(m_config.num_layers, m_config.num_kv_heads, m_config.head_dim,
                   at::TensorOptions().device(m_device).dtype(m_dtype));
}

int64_t Transformer::weightBytes() const {
    // Each storage once: a tied head aliases the embedding.
    std::vector<const void*> seen;
    int64_t total = 0;
    auto add = [&](const at::Tensor& t) {
        if (!t.defined()) return;
        const void* base = t.storage().data();
        for (const void* s : seen)
            if (s == base) return;
        seen.push_back(base);
        total += static_cast<int64_t>(t.storage().nbytes());
    };
    add(m_embed);
    add(m_pos_embed);
    add(m_final_w);
    add(m_final_b);
    add(m_lm_head);
    for (const Layer& L : m_layers) {
        for (const at::Tensor* t : {&L.norm1_w, &L.norm1_b, &L.norm2_w, &L.norm2_b, &L.wqkv, &L.bqkv, &L.wo, &L.bo,
                                    &L.w_up, &L.b_up, &L.w_gu, &L.b_gu, &L.w_down, &L.b_down})
            add(*t);
    }
    return total;
}

at::Tensor Transformer::norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
    if (m_config.architecture == Architecture::Gpt2) return at::layer_norm(x, {x.size(-1)}, w, b, m_config.norm_eps);
#if ATTNLAB_KERNELS_CUDA
    // One pass on the GPU (ATen's sequence below makes six over float copies of x), same roundings.
    if (at::Tensor out = kernels::rmsNormRows(x, w, m_config.norm_eps); out.defined()) return out;
#endif
    // RMSNorm as transformers computes it: statistics in float32, weight applied in the model dtype.
    at::Tensor xf = x.to(at::kFloat);
    at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
    xf = xf * at::rsqrt(variance + m_config.norm_eps);
    return w * xf.to(x.scalar_type());
}

at::Tensor Transformer::activation(const at::Tensor& x) const {
    switch (m_config.activation) {
        case Activation::Silu: return at::silu(x);
        case Activation::GeluTanh: return at::gelu(x, "tanh");
        case Activation::GeluExact: return at::gelu(x);
        case Activation::Relu: return at::relu(x);
        default: throw Error("unsupported activation");
    }
}

std::pair<at::Tensor, at::Tensor> ropeCosSin(const at::Tensor& positions, const at::Tensor& inv_freq,
                                             at::ScalarType dtype) {
    at::Tensor freqs = positions.to(inv_freq.device(), at::kFloat).unsqueeze(1) * inv_freq.unsqueeze(0);  // [n, D/2]
    at::Tensor emb = at::cat({freqs, freqs}, -1);                                                       // [n, D]
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

Transformer::RopeTables Transformer::ropeTables(const at::Tensor& positions) const {
    if (m_config.architecture == Architecture::Gpt2) return {};
    auto [cos, sin] = ropeCosSin(positions, m_inv_freq, m_dtype);
    return {cos, sin};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> Transformer::projectQkv(const Layer& L, const at::Tensor& x,
                                                                        const RopeTables& rope) const {
    const ModelConfig& c = m_config;
    const int64_t t = x.size(0);
    at::Tensor hs = norm(x, L.norm1_w, L.norm1_b);
    // One product with the stacked [q; k; v] weights (GPT-2's c_attn, the Llama family's stacked at load).
    const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
    std::vector<at::Tensor> parts = at::linear(hs, L.wqkv, L.bqkv).split_with_sizes({q_dim, kv_dim, kv_dim}, -1);
    at::Tensor q = parts[0], k = parts[1], v = parts[2];
    q = q.view({t, c.num_heads, c.head_dim}).transpose(0, 1);
    k = k.view({t, c.num_kv_heads, c.head_dim}).transpose(0, 1);
    v = v.view({t, c.num_kv_heads, c.head_dim}).transpose(0, 1);
    if (rope.cos.defined()) {
        q = q * rope.cos + rotateHalf(q) * rope.sin;
        k = k * rope.cos + rotateHalf(k) * rope.sin;
    }
    return {q, k, v};
}

at::Tensor Transformer::mlp(const Layer& L, const at::Tensor& x) const {
    at::Tensor hs = norm(x, L.norm2_w, L.norm2_b);
    if (m_config.architecture == Architecture::Gpt2)
        return at::linear(activation(at::linear(hs, L.w_up, L.b_up)), L.w_down, L.b_down);
    // One product with the stacked [gate; up] weights.
    at::Tensor gu = at::linear(hs, L.w_gu, L.b_gu);
    const int64_t inter = m_config.intermediate_size;
#if ATTNLAB_KERNELS_CUDA
    if (m_config.activation == Activation::Silu && gu.dim() == 2) {
        if (at::Tensor act = kernels::siluMulRows(gu, inter); act.defined()) return at::linear(act, L.w_down, L.b_down);
    }
#endif
    return at::linear(activation(gu.narrow(-1, 0, inter)) * gu.narrow(-1, inter, inter), L.w_down, L.b_down);
}

at::Tensor Transformer::forward(const at::Tensor& ids, const at::Tensor& positions, KvCache& cache,
                                AttentionObserver* observer, int64_t last_rows, LayerHook* hook,
                                const at::Tensor& rope_positions) {
    const at::Tensor& embed_positions = rope_positions.defined() ? rope_positions : positions;
    const ModelConfig& c = m_config;
    const bool gpt2 = c.architecture == Architecture::Gpt2;
    const int64_t t = ids.size(0);
    at::Tensor x = m_embed.index_select(0, ids);
    if (gpt2) x = x + m_pos_embed.index_select(0, embed_positions);

    AttentionParams params;
    params.sliding_window = c.sliding_window;
    params.scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
    params.observer = observer;
    // Settled once here: asking in every layer would wait for the device 2x per layer.
    if (t > 1) params.queries_from_zero = positionsFromZero(positions) ? 1 : 0;

    const RopeTables rope = ropeTables(embed_positions);
    for (int64_t i = 0; i < c.num_layers; ++i) {
        const Layer& L = m_layers[static_cast<size_t>(i)];
        auto [q, k, v] = projectQkv(L, x, rope);
        LayerKv& kv = cache.layer(i);
        kv.append(k, v, positions);
        params.layer = i;
        const bool fresh_prefill = hook && t > 1 && params.queries_from_zero == 1 && kv.maxLength() == t;
        params.block_mask = fresh_prefill ? hook->prefillBlockMask(i, t) : at::Tensor();
        at::Tensor a = attend(q, positions, kv, params).transpose(0, 1).reshape({t, c.num_heads * c.head_dim});
        x = x + at::linear(a, L.wo, L.bo);
        if (hook) hook->afterAttention(i, q, positions, kv);
        x = x + mlp(L, x);
    }
    cache.notePeak();
    const int64_t rows = last_rows <= 0 ? t : std::min(last_rows, t);
    x = norm(x.narrow(0, t - rows, rows), m_final_w, m_final_b);
    return at::linear(x, m_lm_head).to(at::kFloat);
}

at::Tensor Transformer::decodeStatic(const at::Tensor& token, const at::Tensor& position, at::Tensor& mask,
                                     KvCache& cache, const StaticAttention& attention) {
#if ATTNLAB_KERNELS_CUDA
    if (attention && fusedDecodeUsable()) return decodeStaticFused(token, position, cache, attention);
#endif
    const ModelConfig& c = m_config;
    const bool gpt2 = c.architecture == Architecture::Gpt2;
    const int64_t group = c.num_heads / c.num_kv_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
    mask.index_fill_(3, position, 0.0);
    at::Tensor x = m_embed.index_select(0, token);
    if (gpt2) x = x + m_pos_embed.index_select(0, position);
    const RopeTables rope = ropeTables(position);
    for (int64_t i = 0; i < c.num_layers; ++i) {
        const Layer& L = m_layers[static_cast<size_t>(i)];
        auto [q, k, v] = projectQkv(L, x, rope);
        LayerKv& kv = cache.layer(i);
        at::Tensor keys = kv.denseCapacityKeys();      // [Hkv, capacity, D]
        at::Tensor values = kv.denseCapacityValues();
        keys.index_copy_(1, position, k);
        values.index_copy_(1, position, v);
        kv.denseCapacityPositions().index_copy_(0, position, position);
        // GQA without repeating K/V: the group's query heads are the rows of one KV head's batched
        // matmul, [Hkv, G, D] x [Hkv, D, capacity]. Plain batched GEMMs read the cache at memory speed
        // for any capacity (a masked fused kernel without split-K leaves most of the GPU idle).
        at::Tensor a;
        if (attention) {
            a = attention(i, q.reshape({c.num_heads, c.head_dim})).reshape({1, c.num_heads * c.head_dim});
        } else {
            at::Tensor qg = q.reshape({c.num_kv_heads, group, c.head_dim});
            at::Tensor scores = at::bmm(qg, keys.transpose(1, 2));  // [Hkv, G, capacity]
            at::Tensor probs = at::softmax(scores.to(at::kFloat).mul_(scale).add_(mask.view({1, 1, -1})), -1);
            a = at::bmm(probs.to(values.scalar_type()), values);  // [Hkv, G, D]
            a = a.reshape({1, c.num_heads * c.head_dim});
        }
        x = x + at::linear(a, L.wo, L.bo);
        x = x + mlp(L, x);
    }
    x = norm(x, m_final_w, m_final_b);
    return at::linear(x, m_lm_head).to(at::kFloat);
}

bool Transformer::fusedDecodeUsable() const {
#if ATTNLAB_KERNELS_CUDA
    const char* env = std::getenv("ATTNLAB_FUSED_DECODE");
    if (env && std::string(env) == "0") return false;
    const ModelConfig& c = m_config;
    return m_device.is_cuda() && (m_dtype == at::kBFloat16 || m_dtype == at::kHalf) &&
           c.architecture != Architecture::Gpt2 && c.activation == Activation::Silu && !m_final_b.defined() &&
           c.head_dim % 2 == 0;
#else
    return false;
#endif
}

at::Tensor Transformer::decodeStaticFused(const at::Tensor& token, const at::Tensor& position, KvCache& cache,
                                          const StaticAttention& attention) {
#if ATTNLAB_KERNELS_CUDA
    const ModelConfig& c = m_config;
    // One residual stream x updated in place: the o and down projections add their output to it in
    // their epilogue, and the q/k/v and gate/up products normalise it in their prologue, so a layer
    // is seven kernels (two GEMVs with a norm, RoPE + K/V write, attention and its merge, two GEMVs
    // with a residual add).
    at::Tensor x = m_embed.index_select(0, token).contiguous();  // [1, H]
    at::Tensor q_rot = at::empty({c.num_heads, c.head_dim}, x.options());
    const int64_t q_dim = c.num_heads * c.head_dim, kv_dim = c.num_kv_heads * c.head_dim;
    for (int64_t i = 0; i < c.num_layers; ++i) {
        const Layer& L = m_layers[static_cast<size_t>(i)];
        // One matrix-vector product for q, k and v (stacked weights); [1, q_dim + 2 kv_dim].
        at::Tensor qkv = kernels::linearToken(x, L.wqkv, L.bqkv, false, L.norm1_w, c.norm_eps);
        at::Tensor q = qkv.narrow(1, 0, q_dim);
        at::Tensor k = qkv.narrow(1, q_dim, kv_dim);
        at::Tensor v = qkv.narrow(1, q_dim + kv_dim, kv_dim);
        LayerKv& kv = cache.layer(i);
        at::Tensor kc = kv.denseCapacityKeys(), vc = kv.denseCapacityValues(), pc = kv.denseCapacityPositions();
        kernels::ropeKvWrite(q, k, v, position, m_inv_freq, q_rot, kc, vc, pc);
        at::Tensor a = attention(i, q_rot).reshape({1, c.num_heads * c.head_dim});
        kernels::linearToken(a, L.wo, L.bo, false, at::Tensor(), 0.0, &x);  // x += o_proj(a)
        at::Tensor act = kernels::linearToken(x, L.w_gu, L.b_gu, /*silu_mul=*/true, L.norm2_w, c.norm_eps);
        kernels::linearToken(act, L.w_down, L.b_down, false, at::Tensor(), 0.0, &x);  // x += down(act)
    }
    // The head has vocabulary-many rows: one norm kernel beats each of its blocks normalising x.
    at::Tensor hs = at::empty_like(x);
    kernels::rmsNorm(x, m_final_w, hs, c.norm_eps);
    return kernels::linearToken(hs, m_lm_head, at::Tensor()).to(at::kFloat);
#else
    (void)token;
    (void)position;
    (void)cache;
    (void)attention;
    throw Error("fused decode kernels are not in this build");
#endif
}

}  // namespace attnlab
