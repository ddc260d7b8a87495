#include "app/gui/strategy_presets.h"

#include <QStandardPaths>
#include <QDir>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/util/files.h"

namespace attnlab {

using Json = nlohmann::json;

Result<std::vector<StrategyPreset>> loadPresets(const std::string& path) {
    using R = Result<std::vector<StrategyPreset>>;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::vector<StrategyPreset>{};
    std::ifstream in(path, std::ios::binary);
    if (!in) return R::fail(path + ": cannot be read");
    std::stringstream ss;
    ss << in.rdbuf();
    Json j = Json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return R::fail(path + ": not a JSON object (a presets file)");
    if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != 1)
        return R::fail(path + ": unknown presets version (this attnlab reads version 1)");
    if (!j.contains("presets") || !j["presets"].is_array()) return R::fail(path + ": no \"presets\" list");
    std::vector<StrategyPreset> out;
    std::set<std::string> names;
    for (size_t i = 0; i < j["presets"].size(); ++i) {
        const Json& p = j["presets"][i];
        const std::string where = path + ": preset " + std::to_string(i + 1);
        if (!p.is_object() || !p.contains("name") || !p["name"].is_string() || p["name"].get<std::string>().empty())
            return R::fail(where + " has no name");
        StrategyPreset preset;
        preset.name = p["name"].get<std::string>();
        if (!names.insert(preset.name).second) return R::fail(where + ": the name '" + preset.name + "' is used twice");
        if (!p.contains("strategies") || !p["strategies"].is_array())
            return R::fail(where + " ('" + preset.name + "') has no \"strategies\" list");
        for (const Json& s : p["strategies"]) {
            if (!s.is_string()) return R::fail(where + " ('" + preset.name + "'): a strategy is not a string");
            preset.specs.push_back(s.get<std::string>());
        }
        out.push_back(std::move(preset));
    }
    return out;
}

Status savePresets(const std::string& path, const std::vector<StrategyPreset>& presets) {
    Json list = Json::array();
    for (const StrategyPreset& p : presets) list.push_back({{"name", p.name}, {"strategies", p.specs}});
    const std::string text = Json{{"version", 1}, {"presets", list}}.dump(2) + "\n";
    std::error_code ec;
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    return writeFileAtomically(path, [&](std::FILE* f) { return std::fwrite(text.data(), 1, text.size(), f) == text.size(); });
}

std::string defaultPresetsPath() {
    QString base = QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation);
    if (base.isEmpty()) base = QDir::homePath() + QStringLiteral("/.config");
    return (base + QStringLiteral("/attnlab/presets.json")).toStdString();
}

}  // namespace attnlab
