#include "core/model/config.h"

#include <gtest/gtest.h>

using attnlab::Architecture;
using attnlab::parseModelConfig;
using attnlab::RopeScaling;

namespace {

const char* kLlama = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 1000, "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "head_dim": 24, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "hidden_act": "silu",
  "rope_theta": 500000.0, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": [2, 3],
  "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 64}
})";

TEST(ConfigTest, ParsesLlamaWithGqaHeadDimAndLlama3Rope) {
    auto c = parseModelConfig(kLlama, "config.json");
    ASSERT_TRUE(c.isOk()) << c.error();
    EXPECT_EQ(c->architecture, Architecture::Llama);
    EXPECT_EQ(c->num_kv_heads, 2);
    EXPECT_EQ(c->head_dim, 24);
    EXPECT_EQ(c->groupSize(), 2);
    EXPECT_EQ(c->rope.scaling, RopeScaling::Llama3);
    EXPECT_DOUBLE_EQ(c->rope.theta, 500000.0);
    EXPECT_EQ(c->rope.original_max_position_embeddings, 64);
    EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{2, 3}));
    EXPECT_FALSE(c->has_qkv_bias);
}

TEST(ConfigTest, ReadsTransformers5RopeParameters) {
    auto c = parseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8,
        "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
        "rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1234.0}})",
                              "config.json");
    ASSERT_TRUE(c.isOk()) << c.error();
    EXPECT_EQ(c->rope.scaling, RopeScaling::Linear);
    EXPECT_DOUBLE_EQ(c->rope.factor, 4.0);
    EXPECT_DOUBLE_EQ(c->rope.theta, 1234.0);
    EXPECT_EQ(c->num_kv_heads, 2);
    EXPECT_EQ(c->head_dim, 4);
}

TEST(ConfigTest, Qwen2HasQkvBiasAndMistralWindow) {
    auto q = parseModelConfig(R"({"architectures": ["Qwen2ForCausalLM"], "vocab_size": 10, "hidden_size": 8,
        "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
        "sliding_window": 4096, "use_sliding_window": false, "tie_word_embeddings": true})",
                              "config.json");
    ASSERT_TRUE(q.isOk()) << q.error();
    EXPECT_TRUE(q->has_qkv_bias);
    EXPECT_FALSE(q->has_o_bias);
    EXPECT_EQ(q->sliding_window, 0);  // not used unless use_sliding_window
    EXPECT_TRUE(q->tie_word_embeddings);

    auto m = parseModelConfig(R"({"architectures": ["MistralForCausalLM"], "vocab_size": 10, "hidden_size": 8,
        "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
        "sliding_window": 16})",
                              "config.json");
    ASSERT_TRUE(m.isOk()) << m.error();
    EXPECT_EQ(m->sliding_window, 16);
}

TEST(ConfigTest, ParsesGpt2) {
    auto c = parseModelConfig(R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 50,
        "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 1024, "activation_function": "gelu_new"})",
                              "config.json");
    ASSERT_TRUE(c.isOk()) << c.error();
    EXPECT_EQ(c->architecture, Architecture::Gpt2);
    EXPECT_EQ(c->head_dim, 16);
    EXPECT_EQ(c->intermediate_size, 256);
    EXPECT_TRUE(c->tie_word_embeddings);
    EXPECT_EQ(c->activation, attnlab::Activation::GeluTanh);
}

TEST(ConfigTest, ErrorsNameTheFileAndTheProblem) {
    auto bad_json = parseModelConfig("{not json", "/m/config.json");
    ASSERT_FALSE(bad_json.isOk());
    EXPECT_NE(bad_json.error().find("/m/config.json"), std::string::npos);
    EXPECT_NE(bad_json.error().find("invalid JSON"), std::string::npos);

    auto unknown = parseModelConfig(R"({"architectures": ["BertModel"]})", "config.json");
    ASSERT_FALSE(unknown.isOk());
    EXPECT_NE(unknown.error().find("BertModel"), std::string::npos);
    EXPECT_NE(unknown.error().find("not supported"), std::string::npos);

    auto missing = parseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10})", "config.json");
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.error().find("hidden_size"), std::string::npos);

    auto wrong_type = parseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": "many"})", "c.json");
    ASSERT_FALSE(wrong_type.isOk());
    EXPECT_NE(wrong_type.error().find("vocab_size"), std::string::npos);

    auto gqa = parseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 12,
        "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 2})",
                                "config.json");
    ASSERT_FALSE(gqa.isOk());
    EXPECT_NE(gqa.error().find("multiple"), std::string::npos);

    auto rope = parseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8,
        "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
        "rope_scaling": {"rope_type": "yarn", "factor": 4.0}})",
                                 "config.json");
    ASSERT_FALSE(rope.isOk());
    EXPECT_NE(rope.error().find("yarn"), std::string::npos);

    auto quant = parseModelConfig(R"({"architectures": ["LlamaForCausalLM"], "quantization_config": {}})", "c.json");
    ASSERT_FALSE(quant.isOk());
    EXPECT_NE(quant.error().find("quantized"), std::string::npos);
}

}  // namespace
