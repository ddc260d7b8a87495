#include "core/strategy/params.h"

#include <cmath>
#include <sstream>

namespace attnlab {

namespace {

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    const auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

bool parseDouble(const std::string& text, double& out) {
    try {
        size_t used = 0;
        out = std::stod(text, &used);
        return used == text.size() && std::isfinite(out);
    } catch (const std::exception&) {
        return false;
    }
}

bool parseInteger(const std::string& text, int64_t& out) {
    try {
        size_t used = 0;
        out = std::stoll(text, &used);
        return used == text.size();
    } catch (const std::exception&) {
        return false;
    }
}

bool parseBudget(const std::string& text, Budget& out) {
    if (!text.empty() && text.back() == '%') {
        double pct = 0;
        if (!parseDouble(text.substr(0, text.size() - 1), pct) || pct <= 0 || pct > 100) return false;
        out.is_share = true;
        out.share = pct / 100.0;
        return true;
    }
    int64_t n = 0;
    if (!parseInteger(text, n) || n < 0) return false;
    out.is_share = false;
    out.count = n;
    return true;
}

std::string formatNumber(double v) {
    std::ostringstream ss;
    ss << v;
    return ss.str();
}

std::string schemaList(const std::vector<ParamSpec>& schema) {
    std::string out;
    for (const ParamSpec& p : schema) {
        if (!out.empty()) out += ", ";
        out += p.name + " (" + paramTypeName(p.type) + ", default " + p.default_value + ")";
    }
    return out.empty() ? "none" : out;
}

// Validates one value against its spec; returns an error message or "".
std::string check(const std::string& strategy, const ParamSpec& p, const std::string& value) {
    const std::string where = strategy + ": " + p.name + "=" + value;
    const std::string range = "[" + formatNumber(p.min_value) + ", " + formatNumber(p.max_value) + "]";
    switch (p.type) {
        case ParamType::Int: {
            int64_t n = 0;
            if (!parseInteger(value, n)) return where + " is not an integer";
            if (n < p.min_value || n > p.max_value) return where + " is out of range " + range;
            return "";
        }
        case ParamType::Float: {
            double d = 0;
            if (!parseDouble(value, d)) return where + " is not a number";
            if (d < p.min_value || d > p.max_value) return where + " is out of range " + range;
            return "";
        }
        case ParamType::Bool:
            if (value != "true" && value != "false" && value != "1" && value != "0")
                return where + " is not a boolean (true, false)";
            return "";
        case ParamType::Budget: {
            Budget b;
            if (!parseBudget(value, b)) return where + " is not a budget (a count of entries, or a share like 25%)";
            if (!b.is_share && (b.count < p.min_value || b.count > p.max_value))
                return where + " is out of range " + range;
            return "";
        }
        default: return where + ": parameter has no type";
    }
}

const ParamSpec* findSpec(const std::vector<ParamSpec>& schema, const std::string& name) {
    for (const ParamSpec& p : schema)
        if (p.name == name) return &p;
    return nullptr;
}

}  // namespace

const char* paramTypeName(ParamType type) {
    switch (type) {
        case ParamType::Int: return "int";
        case ParamType::Float: return "float";
        case ParamType::Bool: return "bool";
        case ParamType::Budget: return "budget";
        default: return "invalid";
    }
}

int64_t Budget::resolve(int64_t prompt_tokens) const {
    if (!is_share) return count;
    return static_cast<int64_t>(std::ceil(share * static_cast<double>(prompt_tokens) - 1e-9));
}

std::string Budget::text() const { return is_share ? formatNumber(share * 100.0) + "%" : std::to_string(count); }

int64_t ParamValues::getInt(const std::string& name) const {
    int64_t n = 0;
    if (!parseInteger(m_raw.at(name), n)) throw Error("parameter '" + name + "' is not an integer");
    return n;
}
double ParamValues::getFloat(const std::string& name) const {
    double d = 0;
    if (!parseDouble(m_raw.at(name), d)) throw Error("parameter '" + name + "' is not a number");
    return d;
}
bool ParamValues::getBool(const std::string& name) const {
    const std::string& v = m_raw.at(name);
    return v == "true" || v == "1";
}
Budget ParamValues::getBudget(const std::string& name) const {
    Budget b;
    if (!parseBudget(m_raw.at(name), b)) throw Error("parameter '" + name + "' is not a budget");
    return b;
}

std::string ParamValues::canonical(const std::string& strategy) const {
    std::string out = strategy;
    char sep = ':';
    for (const auto& [k, v] : m_raw) {
        if (m_switches_off.count(k)) continue;
        out += sep + k + "=" + v;
        sep = ',';
    }
    return out;
}

Result<StrategySpec> parseStrategySpec(const std::string& text) {
    StrategySpec spec;
    const std::string t = trim(text);
    const auto colon = t.find(':');
    spec.name = trim(t.substr(0, colon));
    if (spec.name.empty()) return Result<StrategySpec>::fail("strategy spec '" + text + "' has no strategy name");
    if (colon == std::string::npos) return spec;
    std::stringstream ss(t.substr(colon + 1));
    std::string item;
    while (std::getline(ss, item, ',')) {
        item = trim(item);
        if (item.empty()) continue;
        const auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
            return Result<StrategySpec>::fail("strategy spec '" + text + "': '" + item + "' is not key=value");
        spec.args.emplace_back(trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
    }
    return spec;
}

Result<ParamValues> bindParams(const std::string& strategy, const std::vector<ParamSpec>& schema,
                               const StrategySpec& spec) {
    ParamValues values;
    for (const ParamSpec& p : schema) values.m_raw[p.name] = p.default_value;
    for (const auto& [key, value] : spec.args) {
        const ParamSpec* p = findSpec(schema, key);
        if (!p)
            return Result<ParamValues>::fail(strategy + ": unknown parameter '" + key +
                                             "'; valid parameters: " + schemaList(schema));
        std::string error = check(strategy, *p, value);
        if (!error.empty()) return Result<ParamValues>::fail(error + " (" + p->help + ")");
        values.m_raw[key] = value;
    }
    // Switches are written only when on, so adding one keeps every earlier spec's canonical text.
    for (const ParamSpec& p : schema) {
        if (p.type != ParamType::Bool) continue;
        std::string& v = values.m_raw[p.name];
        v = (v == "true" || v == "1") ? "true" : "false";
        if (v == "false") values.m_switches_off.insert(p.name);
    }
    return values;
}

}  // namespace attnlab
