#include "core/tasks/tasks.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <algorithm>
#include <sstream>

#include "core/strategy/params.h"

namespace attnlab {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

std::string readFile(const std::string& path, bool& ok) {
    std::ifstream in(path, std::ios::binary);
    ok = bool(in);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
    for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
        s.replace(pos, from.size(), to);
    return s;
}

// Filler ids per (folder, tokenizer): encoding the held-out text is the slow part of making a task.
const std::vector<int32_t>& fillerIds(const std::string& path, const Tokenizer& tokenizer, const std::string& text) {
    static std::mutex mutex;
    static std::map<std::pair<std::string, const Tokenizer*>, std::vector<int32_t>> cache;
    std::lock_guard<std::mutex> lock(mutex);
    auto key = std::make_pair(path, &tokenizer);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, tokenizer.encode(text, false)).first;
    return it->second;
}

Result<Json> readSpec(const std::string& spec_path) {
    bool ok = false;
    const std::string text = readFile(spec_path, ok);
    if (!ok) return Result<Json>::fail(spec_path + ": cannot be read (set ATTNLAB_ASSETS to the assets folder)");
    Json spec = Json::parse(text, nullptr, false);
    if (spec.is_discarded() || !spec.is_object()) return Result<Json>::fail(spec_path + ": invalid JSON");
    return spec;
}

Result<int64_t> bosId(const Json& spec, const std::string& spec_path, const Tokenizer& tokenizer, int64_t bos_id) {
    if (bos_id >= 0) return bos_id;
    const std::string bos = spec.at("tokens").at("bos").get<std::string>();
    auto id = tokenizer.tokenToId(bos);
    if (!id) return Result<int64_t>::fail(spec_path + ": the tokenizer has no BOS token '" + bos + "'");
    return static_cast<int64_t>(*id);
}

// MQAR (assets/tasks/mqar.json) as one free-generation prompt: the pairs, then `queries` queries of
// which all but the last show their values; the prompt ends with the last query's " {key}" and the
// answer is its " {value}" (the spec's teacher-forced scoring of the last query, greedy).
Result<TaskInstance> makeMqarTask(const StrategySpec& parsed, const std::string& folder, const Tokenizer& tokenizer,
                                  int64_t bos_id) {
    using R = Result<TaskInstance>;
    const std::vector<ParamSpec> schema{
        {"pairs", ParamType::Int, "64", 1, 676, "key-value pairs listed before the queries"},
        {"queries", ParamType::Int, "8", 1, 676, "queries; the last one is asked, the others show their values"},
        {"seed", ParamType::Int, "0", 0, 1e18, "seed for keys, values and query order"},
    };
    Result<ParamValues> values = bindParams("mqar", schema, parsed);
    if (!values) return R::fail(values.error());
    const int64_t pairs = values->getInt("pairs");
    const int64_t queries = values->getInt("queries");
    const auto seed = static_cast<uint64_t>(values->getInt("seed"));
    if (queries > pairs)
        return R::fail("mqar: queries=" + std::to_string(queries) + " is more than pairs=" + std::to_string(pairs) +
                       " (queries repeat distinct keys)");
    const std::string spec_path = folder + "/mqar.json";
    auto spec = readSpec(spec_path);
    if (!spec) return R::fail(spec.error());
    try {
        const std::string key_alphabet = spec->at("keys").at("alphabet").get<std::string>();
        const int64_t key_len = spec->at("keys").at("length").get<int64_t>();
        const std::string value_alphabet = spec->at("values").at("alphabet").get<std::string>();
        const int64_t value_len = spec->at("values").at("length").get<int64_t>();
        const auto& t = spec->at("templates");
        double key_space = std::pow(double(key_alphabet.size()), double(key_len));
        if (double(pairs) > key_space)
            return R::fail("mqar: pairs=" + std::to_string(pairs) + " is more than the " +
                           std::to_string(int64_t(key_space)) + " distinct keys of " + spec_path);
        std::mt19937_64 rng(seed);
        auto draw = [&](const std::string& alphabet, int64_t n) {
            std::string out;
            for (int64_t i = 0; i < n; ++i)
                out += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
            return out;
        };
        std::vector<std::string> keys, vals;
        std::set<std::string> seen;
        while (int64_t(keys.size()) < pairs) {
            std::string k = draw(key_alphabet, key_len);
            if (seen.insert(k).second) keys.push_back(k);
        }
        for (int64_t i = 0; i < pairs; ++i) vals.push_back(draw(value_alphabet, value_len));
        std::vector<int64_t> order(static_cast<size_t>(pairs));
        for (int64_t i = 0; i < pairs; ++i) order[size_t(i)] = i;
        std::shuffle(order.begin(), order.end(), rng);
        order.resize(static_cast<size_t>(queries));

        auto fill = [&](const std::string& tmpl, const std::string& k, const std::string& v) {
            return replaceAll(replaceAll(tmpl, "{key}", k), "{value}", v);
        };
        std::string text = t.at("prefix").get<std::string>();
        for (int64_t i = 0; i < pairs; ++i) {
            if (i > 0) text += t.at("pair_separator").get<std::string>();
            text += fill(t.at("pair").get<std::string>(), keys[size_t(i)], vals[size_t(i)]);
        }
        text += t.at("middle").get<std::string>();
        const std::string query = t.at("query").get<std::string>();
        for (int64_t j = 0; j < queries; ++j) {
            if (j > 0) text += t.at("query_separator").get<std::string>();
            const size_t p = size_t(order[size_t(j)]);
            if (j + 1 < queries) {
                text += fill(query, keys[p], vals[p]);
            } else {  // the asked query: up to and including " {key}"
                const std::string q = fill(query, keys[p], "{value}");
                text += q.substr(0, q.find("{value}"));
                while (!text.empty() && text.back() == ' ') text.pop_back();
            }
        }
        auto bos = bosId(*spec, spec_path, tokenizer, bos_id);
        if (!bos) return R::fail(bos.error());
        TaskInstance task;
        task.kind = "mqar";
        task.spec = values->canonical("mqar");
        task.prompt_ids.push_back(static_cast<int32_t>(*bos));
        const std::vector<int32_t> ids = tokenizer.encode(text, false);
        task.prompt_ids.insert(task.prompt_ids.end(), ids.begin(), ids.end());
        task.answer = " " + vals[size_t(order.back())];
        task.max_new_tokens = 4;
        task.numbers = {{"pairs", double(pairs)},
                        {"queries", double(queries)},
                        {"seed", double(seed)},
                        {"answer_pair", double(order.back())}};
        return task;
    } catch (const Json::exception& e) {
        return R::fail(spec_path + ": unexpected layout (" + std::string(e.what()) + ")");
    }
}

// A window of held-out text (assets/tasks/heldout.txt, never trained on): [BOS] + length - 1 filler
// tokens from a seeded offset; the answer is the text's own next `answer_tokens` tokens, so "correct"
// means the continuation reproduces the held-out text.
Result<TaskInstance> makeHeldoutTask(const StrategySpec& parsed, const std::string& folder, const Tokenizer& tokenizer,
                                     int64_t bos_id) {
    using R = Result<TaskInstance>;
    const std::vector<ParamSpec> schema{
        {"length", ParamType::Int, "512", 2, 1e7, "prompt tokens, BOS included"},
        {"seed", ParamType::Int, "0", 0, 1e18, "seed for the window's offset"},
        {"answer_tokens", ParamType::Int, "4", 1, 256, "true next tokens the continuation is checked against"},
    };
    Result<ParamValues> values = bindParams("heldout", schema, parsed);
    if (!values) return R::fail(values.error());
    const int64_t length = values->getInt("length");
    const auto seed = static_cast<uint64_t>(values->getInt("seed"));
    const int64_t answer_tokens = values->getInt("answer_tokens");
    // The held-out file and the BOS token as the pass-key spec names them.
    const std::string spec_path = folder + "/passkey.json";
    auto spec = readSpec(spec_path);
    if (!spec) return R::fail(spec.error());
    try {
        const std::string filler_path = folder + "/" + spec->at("filler").at("file").get<std::string>();
        bool ok = false;
        const std::string filler_text = readFile(filler_path, ok);
        if (!ok) return R::fail(filler_path + ": cannot be read");
        const std::vector<int32_t>& filler = fillerIds(filler_path, tokenizer, filler_text);
        const int64_t n = length - 1;
        if (n + answer_tokens > static_cast<int64_t>(filler.size()))
            return R::fail("heldout: length=" + std::to_string(length) + " needs more text than " + filler_path +
                           " holds (" + std::to_string(filler.size()) + " tokens)");
        std::mt19937_64 rng(seed);
        const int64_t offset =
            std::uniform_int_distribution<int64_t>(0, static_cast<int64_t>(filler.size()) - n - answer_tokens)(rng);
        auto bos = bosId(*spec, spec_path, tokenizer, bos_id);
        if (!bos) return R::fail(bos.error());
        TaskInstance task;
        task.kind = "heldout";
        task.spec = values->canonical("heldout");
        task.prompt_ids.push_back(static_cast<int32_t>(*bos));
        task.prompt_ids.insert(task.prompt_ids.end(), filler.begin() + offset, filler.begin() + offset + n);
        const std::vector<int32_t> next(filler.begin() + offset + n, filler.begin() + offset + n + answer_tokens);
        task.answer = tokenizer.decode(next, true);
        task.max_new_tokens = std::max<int64_t>(answer_tokens, 16);
        task.numbers = {{"length", double(length)}, {"seed", double(seed)}, {"offset", double(offset)}};
        return task;
    } catch (const Json::exception& e) {
        return R::fail(spec_path + ": unexpected layout (" + std::string(e.what()) + ")");
    }
}

}  // namespace

std::string findTaskFolder(const std::string& exe_path) {
    if (const char* env = std::getenv("ATTNLAB_ASSETS")) return (fs::path(env) / "tasks").string();
    std::error_code ec;
    fs::path dir = fs::weakly_canonical(fs::path(exe_path), ec).parent_path();
    for (int i = 0; i < 6 && !dir.empty(); ++i) {
        for (fs::path c : {dir / "assets/tasks", dir / "share/attnlab/assets/tasks"})
            if (fs::exists(c / "passkey.json", ec)) return c.string();
        if (dir == dir.parent_path()) break;
        dir = dir.parent_path();
    }
    return "assets/tasks";
}

Result<TaskInstance> makeTask(const std::string& spec_text, const std::string& folder, const Tokenizer& tokenizer,
                              int64_t bos_id) {
    using R = Result<TaskInstance>;
    Result<StrategySpec> parsed = parseStrategySpec(spec_text);  // same "name:key=value" syntax
    if (!parsed) return R::fail(parsed.error());
    if (parsed->name == "mqar") return makeMqarTask(*parsed, folder, tokenizer, bos_id);
    if (parsed->name == "heldout") return makeHeldoutTask(*parsed, folder, tokenizer, bos_id);
    if (parsed->name != "needle" && parsed->name != "passkey")
        return R::fail("unknown task '" + parsed->name + "' (needle, passkey, mqar, heldout)");
    const std::vector<ParamSpec> schema{
        {"length", ParamType::Int, "1024", 16, 1e7, "prompt tokens, BOS and question included"},
        {"depth", ParamType::Float, "0.5", 0, 1, "needle depth: 0 = right after BOS, 1 = right before the question"},
        {"seed", ParamType::Int, "0", 0, 1e18, "seed for the pass key and the filler window"},
    };
    Result<ParamValues> values = bindParams("needle", schema, *parsed);
    if (!values) return R::fail(values.error());
    const int64_t length = values->getInt("length");
    const double depth = values->getFloat("depth");
    const auto seed = static_cast<uint64_t>(values->getInt("seed"));

    const std::string spec_path = folder + "/passkey.json";
    bool ok = false;
    const std::string spec_json = readFile(spec_path, ok);
    if (!ok) return R::fail(spec_path + ": cannot be read (set ATTNLAB_ASSETS to the assets folder)");
    Json spec;
    try {
        spec = Json::parse(spec_json);
    } catch (const std::exception& e) {
        return R::fail(spec_path + ": invalid JSON (" + e.what() + ")");
    }
    try {
        const std::string filler_path = folder + "/" + spec.at("filler").at("file").get<std::string>();
        const std::string filler_text = readFile(filler_path, ok);
        if (!ok) return R::fail(filler_path + ": cannot be read");
        const std::string alphabet = spec.at("passkey").at("alphabet").get<std::string>();
        const int64_t key_len = spec.at("passkey").at("length").get<int64_t>();
        const auto& templates = spec.at("templates");

        std::mt19937_64 rng(seed);
        std::string passkey;
        for (int64_t i = 0; i < key_len; ++i)
            passkey += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)];
        const std::vector<int32_t> needle =
            tokenizer.encode(replaceAll(templates.at("needle").get<std::string>(), "{passkey}", passkey), false);
        const std::vector<int32_t> question = tokenizer.encode(templates.at("question").get<std::string>(), false);
        const std::vector<int32_t>& filler = fillerIds(filler_path, tokenizer, filler_text);

        if (bos_id < 0) {
            auto id = tokenizer.tokenToId(spec.at("tokens").at("bos").get<std::string>());
            if (!id) return R::fail(spec_path + ": the tokenizer has no BOS token '" +
                                    spec.at("tokens").at("bos").get<std::string>() + "'");
            bos_id = *id;
        }
        const int64_t n = length - 1 - static_cast<int64_t>(needle.size() + question.size());
        if (n < 0)
            return R::fail("needle: length=" + std::to_string(length) + " is shorter than BOS + needle + question (" +
                           std::to_string(length - n) + " tokens)");
        if (n > static_cast<int64_t>(filler.size()))
            return R::fail("needle: length=" + std::to_string(length) + " needs more filler than " + filler_path +
                           " holds (" + std::to_string(filler.size()) + " tokens)");
        const int64_t offset =
            std::uniform_int_distribution<int64_t>(0, static_cast<int64_t>(filler.size()) - n)(rng);
        const auto p = static_cast<int64_t>(std::floor(depth * static_cast<double>(n) + 0.5));

        TaskInstance task;
        task.kind = "passkey";
        task.spec = values->canonical("needle");
        task.prompt_ids.push_back(static_cast<int32_t>(bos_id));
        task.prompt_ids.insert(task.prompt_ids.end(), filler.begin() + offset, filler.begin() + offset + p);
        task.prompt_ids.insert(task.prompt_ids.end(), needle.begin(), needle.end());
        task.prompt_ids.insert(task.prompt_ids.end(), filler.begin() + offset + p, filler.begin() + offset + n);
        task.prompt_ids.insert(task.prompt_ids.end(), question.begin(), question.end());
        task.answer = replaceAll(templates.at("answer").get<std::string>(), "{passkey}", passkey);
        task.max_new_tokens = spec.at("scoring").at("max_new_tokens").get<int64_t>();
        task.numbers = {{"length", double(length)},
                        {"depth", depth},
                        {"seed", double(seed)},
                        {"needle_start", double(1 + p)},
                        {"needle_end", double(1 + p + static_cast<int64_t>(needle.size()))}};
        return task;
    } catch (const Json::exception& e) {
        return R::fail(spec_path + ": unexpected layout (" + std::string(e.what()) + ")");
    }
}

bool isCorrect(const TaskInstance& task, const std::string& output_text) {
    return !task.answer.empty() && output_text.compare(0, task.answer.size(), task.answer) == 0;
}

}  // namespace attnlab
