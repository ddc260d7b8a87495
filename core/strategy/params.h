// Strategy parameters as data: a typed schema (name, type, default, range, help) that the CLI parses
// from `name:key=value,...` and the GUI renders as editors. Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

enum class ParamType { Invalid = 0, Int, Float, Bool, Budget };

const char* paramTypeName(ParamType type);

struct ParamSpec {
    std::string name;
    ParamType type = ParamType::Invalid;
    std::string default_value;  // in the CLI's syntax, e.g. "32", "0.5", "true", "25%"
    double min_value = 0;       // inclusive; Budget counts and Int/Float values
    double max_value = 1e18;    // inclusive
    std::string help;
};

// Entries each KV head keeps per layer (sinks and windows included): a count, or a share of the prompt.
struct Budget {
    bool is_share = false;
    double share = 1.0;  // (0, 1] when is_share
    int64_t count = 0;
    int64_t resolve(int64_t prompt_tokens) const;
    std::string text() const;
};

class ParamValues {
public:
    int64_t getInt(const std::string& name) const;
    double getFloat(const std::string& name) const;
    bool getBool(const std::string& name) const;
    Budget getBudget(const std::string& name) const;
    const std::map<std::string, std::string>& raw() const { return m_raw; }

    // Canonical text with every parameter in name order ("snapkv:budget=25%,kernel=7,window=32"),
    // boolean switches only when on ("streaming:budget=25%,rerotate=true,sink=4").
    std::string canonical(const std::string& strategy) const;

    std::map<std::string, std::string> m_raw;  // validated text per parameter (all schema entries present)
    std::set<std::string> m_switches_off;      // boolean parameters that are false: left out of canonical()
};

struct StrategySpec {
    std::string name;
    std::vector<std::pair<std::string, std::string>> args;  // in the order written
};

// "snapkv:budget=25%,window=32" -> {name, args}. Errors say what is malformed.
Result<StrategySpec> parseStrategySpec(const std::string& text);

// Checks every key against the schema (unknown keys and out-of-range values fail with a message that
// lists the valid choices) and fills defaults.
Result<ParamValues> bindParams(const std::string& strategy, const std::vector<ParamSpec>& schema,
                               const StrategySpec& spec);

}  // namespace attnlab
