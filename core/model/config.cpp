#include "core/model/config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace attnlab {

using Json = nlohmann::json;

const char* architectureName(Architecture arch) {
    switch (arch) {
        case Architecture::Llama: return "LlamaForCausalLM";
        case Architecture::Qwen2: return "Qwen2ForCausalLM";
        case Architecture::Mistral: return "MistralForCausalLM";
        case Architecture::Gpt2: return "GPT2LMHeadModel";
        default: return "invalid";
    }
}

int64_t ModelConfig::parameterCount() const {
    const int64_t h = hidden_size;
    const int64_t q = num_heads * head_dim;
    const int64_t kv = num_kv_heads * head_dim;
    int64_t per_layer = h * q + 2 * h * kv + q * h;  // q, k, v, o
    if (has_qkv_bias) per_layer += q + 2 * kv;
    if (architecture == Architecture::Gpt2) {
        per_layer += q + 2 * kv + h;                     // c_attn and c_proj biases
        per_layer += 2 * h * intermediate_size + intermediate_size + h;
        per_layer += 4 * h;                              // two LayerNorms
    } else {
        per_layer += 3 * h * intermediate_size + 2 * h;  // gate, up, down, two RMSNorms
    }
    int64_t total = num_layers * per_layer + vocab_size * h + h;
    if (architecture == Architecture::Gpt2) total += max_position_embeddings * h + h;
    if (!tie_word_embeddings) total += vocab_size * h;
    return total;
}

namespace {

struct Reader {
    const Json& j;
    const std::string& file;

    std::string where(const std::string& key) const { return file + ": field '" + key + "'"; }

    bool has(const std::string& key) const { return j.contains(key) && !j.at(key).is_null(); }

    int64_t integer(const std::string& key, std::optional<int64_t> fallback = std::nullopt) const {
        if (!has(key)) {
            if (fallback) return *fallback;
            throw Error(where(key) + " is missing");
        }
        const Json& v = j.at(key);
        if (!v.is_number_integer()) throw Error(where(key) + " must be an integer, got " + v.dump());
        return v.get<int64_t>();
    }
    double number(const std::string& key, std::optional<double> fallback = std::nullopt) const {
        if (!has(key)) {
            if (fallback) return *fallback;
            throw Error(where(key) + " is missing");
        }
        const Json& v = j.at(key);
        if (!v.is_number()) throw Error(where(key) + " must be a number, got " + v.dump());
        return v.get<double>();
    }
    bool boolean(const std::string& key, bool fallback) const {
        if (!has(key)) return fallback;
        const Json& v = j.at(key);
        if (!v.is_boolean()) throw Error(where(key) + " must be true or false, got " + v.dump());
        return v.get<bool>();
    }
    std::string string(const std::string& key, const std::string& fallback) const {
        if (!has(key)) return fallback;
        const Json& v = j.at(key);
        if (!v.is_string()) throw Error(where(key) + " must be a string, got " + v.dump());
        return v.get<std::string>();
    }
    std::vector<int64_t> ids(const std::string& key) const {
        std::vector<int64_t> out;
        if (!has(key)) return out;
        const Json& v = j.at(key);
        if (v.is_number_integer()) {
            out.push_back(v.get<int64_t>());
        } else if (v.is_array()) {
            for (const Json& e : v) {
                if (!e.is_number_integer()) throw Error(where(key) + " must hold integers, got " + v.dump());
                out.push_back(e.get<int64_t>());
            }
        } else {
            throw Error(where(key) + " must be an integer or a list of integers, got " + v.dump());
        }
        return out;
    }
};

Activation parseActivation(const std::string& name, const std::string& where) {
    if (name == "silu" || name == "swish") return Activation::Silu;
    if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::GeluTanh;
    if (name == "gelu") return Activation::GeluExact;
    if (name == "relu") return Activation::Relu;
    throw Error(where + " activation '" + name + "' is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh, relu)");
}

void parseRope(const Json& root, const std::string& file, RopeConfig& rope) {
    Reader r{root, file};
    rope.theta = r.number("rope_theta", 10000.0);
    // transformers 4 writes rope_scaling; transformers 5 writes rope_parameters (which also carries rope_theta).
    const Json* params = nullptr;
    std::string key;
    for (const char* k : {"rope_parameters", "rope_scaling"}) {
        if (root.contains(k) && !root.at(k).is_null()) {
            params = &root.at(k);
            key = k;
            break;
        }
    }
    if (!params) return;
    if (!params->is_object()) throw Error(file + ": field '" + key + "' must be an object");
    Reader p{*params, file};
    if (p.has("rope_theta")) rope.theta = p.number("rope_theta");
    std::string type = p.string("rope_type", p.string("type", "default"));
    if (type == "default") {
        rope.scaling = RopeScaling::None;
    } else if (type == "linear") {
        rope.scaling = RopeScaling::Linear;
        rope.factor = p.number("factor");
    } else if (type == "llama3") {
        rope.scaling = RopeScaling::Llama3;
        rope.factor = p.number("factor");
        rope.low_freq_factor = p.number("low_freq_factor");
        rope.high_freq_factor = p.number("high_freq_factor");
        rope.original_max_position_embeddings = p.integer("original_max_position_embeddings");
    } else {
        throw Error(file + ": " + key + " type '" + type + "' is not supported (default, linear, llama3)");
    }
    if (rope.factor <= 0) throw Error(file + ": " + key + " factor must be positive");
}

ModelConfig parseLlamaFamily(const Json& j, const std::string& file, Architecture arch) {
    Reader r{j, file};
    ModelConfig c;
    c.architecture = arch;
    c.vocab_size = r.integer("vocab_size");
    c.hidden_size = r.integer("hidden_size");
    c.intermediate_size = r.integer("intermediate_size");
    c.num_layers = r.integer("num_hidden_layers");
    c.num_heads = r.integer("num_attention_heads");
    c.num_kv_heads = r.integer("num_key_value_heads", c.num_heads);
    if (c.num_heads <= 0) throw Error(r.where("num_attention_heads") + " must be positive");
    c.head_dim = r.integer("head_dim", c.hidden_size / c.num_heads);
    c.max_position_embeddings = r.integer("max_position_embeddings", 4096);
    c.norm_eps = r.number("rms_norm_eps", 1e-6);
    c.activation = parseActivation(r.string("hidden_act", "silu"), r.where("hidden_act"));
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    parseRope(j, file, c.rope);
    if (arch == Architecture::Qwen2) {
        c.has_qkv_bias = true;
        if (r.boolean("use_sliding_window", false))
            throw Error(file + ": Qwen2 'use_sliding_window': true (per-layer windows) is not supported yet");
    } else {
        c.has_qkv_bias = r.boolean("attention_bias", false);
        c.has_o_bias = c.has_qkv_bias;
        c.has_mlp_bias = r.boolean("mlp_bias", false);
    }
    if (arch == Architecture::Mistral) c.sliding_window = r.integer("sliding_window", 0);
    if (j.contains("layer_types") && j.at("layer_types").is_array()) {
        for (const Json& t : j.at("layer_types")) {
            std::string kind = t.is_string() ? t.get<std::string>() : "";
            bool sliding = kind == "sliding_attention";
            if (kind != "full_attention" && !sliding)
                throw Error(file + ": layer type '" + t.dump() + "' is not supported");
            if (sliding != (c.sliding_window > 0))
                throw Error(file + ": mixed full/sliding layer_types are not supported yet");
        }
    }
    return c;
}

ModelConfig parseGpt2(const Json& j, const std::string& file) {
    Reader r{j, file};
    ModelConfig c;
    c.architecture = Architecture::Gpt2;
    c.vocab_size = r.integer("vocab_size");
    c.hidden_size = r.integer("n_embd");
    c.num_layers = r.integer("n_layer");
    c.num_heads = r.integer("n_head");
    if (c.num_heads <= 0) throw Error(r.where("n_head") + " must be positive");
    c.num_kv_heads = c.num_heads;
    c.head_dim = c.hidden_size / c.num_heads;
    c.intermediate_size = r.integer("n_inner", 4 * c.hidden_size);
    c.max_position_embeddings = r.integer("n_positions", 1024);
    c.norm_eps = r.number("layer_norm_epsilon", 1e-5);
    c.activation = parseActivation(r.string("activation_function", "gelu_new"), r.where("activation_function"));
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
    c.has_qkv_bias = true;
    c.has_o_bias = true;
    c.has_mlp_bias = true;
    if (!r.boolean("scale_attn_weights", true) || r.boolean("scale_attn_by_inverse_layer_idx", false))
        throw Error(file + ": GPT-2 attention scaling variants (scale_attn_weights=false, "
                           "scale_attn_by_inverse_layer_idx) are not supported");
    return c;
}

void validate(const ModelConfig& c, const std::string& file) {
    auto positive = [&](int64_t v, const char* name) {
        if (v <= 0) throw Error(file + ": '" + name + "' must be positive, got " + std::to_string(v));
    };
    positive(c.vocab_size, "vocab_size");
    positive(c.hidden_size, "hidden_size");
    positive(c.intermediate_size, "intermediate_size");
    positive(c.num_layers, "num_hidden_layers");
    positive(c.num_kv_heads, "num_key_value_heads");
    positive(c.head_dim, "head_dim");
    positive(c.max_position_embeddings, "max_position_embeddings");
    if (c.num_heads % c.num_kv_heads != 0)
        throw Error(file + ": num_attention_heads (" + std::to_string(c.num_heads) +
                    ") is not a multiple of num_key_value_heads (" + std::to_string(c.num_kv_heads) + ")");
    if (c.architecture != Architecture::Gpt2 && c.head_dim % 2 != 0)
        throw Error(file + ": head_dim must be even for rotary embeddings, got " + std::to_string(c.head_dim));
    if (c.architecture == Architecture::Gpt2 && c.hidden_size % c.num_heads != 0)
        throw Error(file + ": n_embd is not a multiple of n_head");
    if (c.sliding_window < 0) throw Error(file + ": sliding_window must not be negative");
}

std::string readFile(const std::string& path, bool& found) {
    std::ifstream in(path, std::ios::binary);
    found = bool(in);
    if (!found) return {};
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

Result<ModelConfig> parseModelConfig(const std::string& json_text, const std::string& file) {
    try {
        Json j = Json::parse(json_text);
        if (!j.is_object()) return Result<ModelConfig>::fail(file + ": not a JSON object");
        if (j.contains("quantization_config"))
            return Result<ModelConfig>::fail(file + ": quantized checkpoints are not supported");
        Reader r{j, file};
        std::string arch_name;
        if (j.contains("architectures") && j.at("architectures").is_array() && !j.at("architectures").empty() &&
            j.at("architectures")[0].is_string())
            arch_name = j.at("architectures")[0].get<std::string>();
        std::string model_type = r.string("model_type", "");
        if (arch_name.empty() && model_type.empty())
            return Result<ModelConfig>::fail(file + ": neither 'architectures' nor 'model_type' is set");

        ModelConfig c;
        if (arch_name == "LlamaForCausalLM" || (arch_name.empty() && model_type == "llama")) {
            c = parseLlamaFamily(j, file, Architecture::Llama);
        } else if (arch_name == "Qwen2ForCausalLM" || (arch_name.empty() && model_type == "qwen2")) {
            c = parseLlamaFamily(j, file, Architecture::Qwen2);
        } else if (arch_name == "MistralForCausalLM" || (arch_name.empty() && model_type == "mistral")) {
            c = parseLlamaFamily(j, file, Architecture::Mistral);
        } else if (arch_name == "GPT2LMHeadModel" || (arch_name.empty() && model_type == "gpt2")) {
            c = parseGpt2(j, file);
        } else {
            return Result<ModelConfig>::fail(
                file + ": architecture '" + (arch_name.empty() ? model_type : arch_name) +
                "' is not supported (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM, GPT2LMHeadModel)");
        }
        c.model_type = model_type;
        c.bos_token_ids = r.ids("bos_token_id");
        c.eos_token_ids = r.ids("eos_token_id");
        c.torch_dtype = r.string("torch_dtype", r.string("dtype", ""));
        validate(c, file);
        return c;
    } catch (const Json::exception& e) {
        return Result<ModelConfig>::fail(file + ": invalid JSON (" + std::string(e.what()) + ")");
    } catch (const Error& e) {
        return Result<ModelConfig>::fail(e.what());
    }
}

Result<ModelConfig> loadModelConfig(const std::string& dir) {
    const std::string path = dir + "/config.json";
    bool found = false;
    std::string text = readFile(path, found);
    if (!found) return Result<ModelConfig>::fail(path + ": cannot be read (is this a Hugging Face model directory?)");
    Result<ModelConfig> config = parseModelConfig(text, path);
    if (!config) return config;

    const std::string gen_path = dir + "/generation_config.json";
    std::string gen_text = readFile(gen_path, found);
    if (found) {
        try {
            Json g = Json::parse(gen_text);
            Reader r{g, gen_path};
            std::vector<int64_t> eos = r.ids("eos_token_id");
            if (!eos.empty()) config->eos_token_ids = eos;
            std::vector<int64_t> bos = r.ids("bos_token_id");
            if (!bos.empty()) config->bos_token_ids = bos;
        } catch (const Json::exception& e) {
            return Result<ModelConfig>::fail(gen_path + ": invalid JSON (" + std::string(e.what()) + ")");
        } catch (const Error& e) {
            return Result<ModelConfig>::fail(e.what());
        }
    }
    return config;
}

}  // namespace attnlab
