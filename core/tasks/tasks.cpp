#include "core/tasks/tasks.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
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
    if (parsed->name != "needle" && parsed->name != "passkey")
        return R::fail("unknown task '" + parsed->name + "' (needle, passkey)");
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
