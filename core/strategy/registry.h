// Strategy registry: `full` is built in; every other strategy is a plugin found next to the
// binaries (build tree and install prefix) and in the folders of ATTNLAB_PLUGIN_PATH, or added
// explicitly (tests link plugin sources statically). Incompatible or broken plugins are refused
// with a reason, never loaded half-way. Torch-free header.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/strategy/strategy_info.h"
#include "core/util/result.h"

namespace attnlab {

class Strategy;
class StrategyFactory;

struct PluginProblem {
    std::string path;
    std::string reason;
};

struct StrategyInstance {
    std::shared_ptr<Strategy> strategy;  // shared_ptr: this header stays torch-free
    StrategyInfo info;
    std::string canonical_spec;  // every parameter spelled out
};

class StrategyRegistry {
public:
    StrategyRegistry();  // registers `full`
    ~StrategyRegistry();
    StrategyRegistry(const StrategyRegistry&) = delete;
    StrategyRegistry& operator=(const StrategyRegistry&) = delete;

    // Adds a factory; a name already registered is refused (first one wins).
    Status add(std::unique_ptr<StrategyFactory> factory, const std::string& origin);
    // dlopen()s one plugin file and checks its descriptor before using it.
    Status loadPlugin(const std::string& path);
    // Loads attnlab-strategy-*.so from the default folders for an executable at exe_path.
    // Refused plugins are collected in problems().
    void loadDefaultPlugins(const std::string& exe_path);
    static std::vector<std::string> defaultPluginFolders(const std::string& exe_path);

    const std::vector<PluginProblem>& problems() const { return m_problems; }
    std::vector<StrategyInfo> list() const;
    const StrategyFactory* find(const std::string& name) const;
    // Parses "name:key=value,..." and creates the strategy; errors list the valid choices.
    Result<StrategyInstance> create(const std::string& spec_text) const;

private:
    struct Entry;
    std::vector<std::unique_ptr<Entry>> m_entries;
    std::vector<PluginProblem> m_problems;
    std::vector<void*> m_handles;  // dlopen handles, closed after the factories are gone
};

}  // namespace attnlab
