// Typed model configuration parsed from a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

enum class Architecture { Invalid = 0, Llama, Qwen2, Mistral, Gpt2 };
enum class Activation { Invalid = 0, Silu, GeluTanh, GeluExact, Relu };
enum class RopeScaling { Invalid = 0, None, Linear, Llama3 };

const char* architectureName(Architecture arch);  // the HF class name, e.g. "LlamaForCausalLM"

struct RopeConfig {
    RopeScaling scaling = RopeScaling::None;
    double theta = 10000.0;
    double factor = 1.0;
    double low_freq_factor = 1.0;    // llama3
    double high_freq_factor = 4.0;   // llama3
    int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
    Architecture architecture = Architecture::Invalid;
    std::string model_type;  // as written in config.json
    int64_t vocab_size = 0;
    int64_t hidden_size = 0;
    int64_t intermediate_size = 0;
    int64_t num_layers = 0;
    int64_t num_heads = 0;
    int64_t num_kv_heads = 0;
    int64_t head_dim = 0;
    int64_t max_position_embeddings = 0;
    double norm_eps = 1e-5;
    Activation activation = Activation::Silu;
    RopeConfig rope;               // unused by GPT-2 (learned positions)
    bool tie_word_embeddings = false;
    bool has_qkv_bias = false;     // Qwen2 always, Llama with attention_bias
    bool has_o_bias = false;       // Llama attention_bias also biases o_proj
    bool has_mlp_bias = false;
    int64_t sliding_window = 0;    // 0 = none; else a query sees keys with q_pos - k_pos < sliding_window
    std::vector<int64_t> bos_token_ids;
    std::vector<int64_t> eos_token_ids;
    std::string torch_dtype;       // informational

    int64_t groupSize() const { return num_heads / num_kv_heads; }
    // Parameter count implied by the shapes (embeddings counted once when tied).
    int64_t parameterCount() const;
};

// Parses <dir>/config.json and, when present, <dir>/generation_config.json (EOS/BOS ids override).
// Errors name the file and the field.
Result<ModelConfig> loadModelConfig(const std::string& dir);
Result<ModelConfig> parseModelConfig(const std::string& json_text, const std::string& file_label);

}  // namespace attnlab
