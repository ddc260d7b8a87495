#include "core/strategy/registry.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/strategy/plugin_api.h"

namespace attnlab {

namespace fs = std::filesystem;

namespace {

class FullStrategy : public Strategy {};

class FullFactory : public StrategyFactory {
public:
    StrategyInfo info() const override {
        StrategyInfo i;
        i.name = "full";
        i.summary = "Full attention over the whole KV cache (the baseline).";
        return i;
    }
    Result<std::unique_ptr<Strategy>> create(const ParamValues&) const override {
        return std::unique_ptr<Strategy>(std::make_unique<FullStrategy>());
    }
};

}  // namespace

struct StrategyRegistry::Entry {
    std::unique_ptr<StrategyFactory> factory;
    void (*destroy)(StrategyFactory*) = nullptr;  // plugin-side deleter, when it came from a plugin
    StrategyInfo info;

    ~Entry() {
        if (destroy) destroy(factory.release());
    }
};

StrategyRegistry::StrategyRegistry() { add(std::make_unique<FullFactory>(), "built-in"); }

StrategyRegistry::~StrategyRegistry() {
    m_entries.clear();  // factories first: their code lives in the handles
    for (void* h : m_handles) dlclose(h);
}

Status StrategyRegistry::add(std::unique_ptr<StrategyFactory> factory, const std::string& origin) {
    auto entry = std::make_unique<Entry>();
    entry->info = factory->info();
    entry->info.origin = origin;
    if (entry->info.name.empty()) return Status::fail(origin + ": strategy has no name");
    if (find(entry->info.name))
        return Status::fail(origin + ": strategy '" + entry->info.name + "' is already registered");
    entry->factory = std::move(factory);
    m_entries.push_back(std::move(entry));
    return Status::ok();
}

Status StrategyRegistry::loadPlugin(const std::string& path) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* err = dlerror();
        return Status::fail(path + ": cannot be loaded (" + std::string(err ? err : "unknown error") + ")");
    }
    auto refuse = [&](const std::string& reason) {
        dlclose(handle);
        return Status::fail(path + ": refused: " + reason);
    };
    auto entry_fn = reinterpret_cast<AttnlabPluginEntry>(dlsym(handle, ATTNLAB_PLUGIN_ENTRY_SYMBOL));
    if (!entry_fn) return refuse("no " + std::string(ATTNLAB_PLUGIN_ENTRY_SYMBOL) + " entry point");
    const AttnlabPluginDescriptor* d = entry_fn();
    if (!d) return refuse("the descriptor is null");
    if (d->api_version != ATTNLAB_PLUGIN_API_VERSION)
        return refuse("plugin API version " + std::to_string(d->api_version) + ", this attnlab needs " +
                      std::to_string(ATTNLAB_PLUGIN_API_VERSION));
    if (d->struct_size < sizeof(AttnlabPluginDescriptor))
        return refuse("descriptor is too small (" + std::to_string(d->struct_size) + " bytes)");
    const std::string abi = d->abi_tag ? d->abi_tag : "";
    if (abi != ATTNLAB_ABI_TAG)
        return refuse("ABI tag '" + abi + "' does not match this build's '" + ATTNLAB_ABI_TAG +
                      "' (rebuild the plugin with the same compiler and LibTorch)");
    if (!d->create_factory || !d->destroy_factory) return refuse("descriptor lacks its factory functions");
    StrategyFactory* raw = d->create_factory();
    if (!raw) return refuse("its factory could not be created");
    std::unique_ptr<StrategyFactory> factory(raw);
    auto entry = std::make_unique<Entry>();
    entry->info = factory->info();
    entry->info.origin = path;
    entry->destroy = d->destroy_factory;
    entry->factory = std::move(factory);
    if (entry->info.name.empty() || find(entry->info.name)) {
        std::string name = entry->info.name;
        entry.reset();
        return refuse(name.empty() ? "the strategy has no name" : "strategy '" + name + "' is already registered");
    }
    m_entries.push_back(std::move(entry));
    m_handles.push_back(handle);
    return Status::ok();
}

std::vector<std::string> StrategyRegistry::defaultPluginFolders(const std::string& exe_path) {
    std::vector<std::string> dirs;
    if (const char* env = std::getenv("ATTNLAB_PLUGIN_PATH")) {
        std::stringstream ss(env);
        std::string item;
        while (std::getline(ss, item, ':'))
            if (!item.empty()) dirs.push_back(item);
    }
    std::error_code ec;
    fs::path exe = fs::weakly_canonical(fs::path(exe_path), ec);
    fs::path bin = exe.parent_path();
    dirs.push_back((bin / "../lib/attnlab/plugins").lexically_normal().string());  // install prefix
    dirs.push_back((bin / "../lib").lexically_normal().string());                  // build tree
    dirs.push_back(bin.string());
    return dirs;
}

void StrategyRegistry::loadDefaultPlugins(const std::string& exe_path) {
    for (const std::string& dir : defaultPluginFolders(exe_path)) {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) continue;
        std::vector<std::string> files;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            const std::string name = e.path().filename().string();
            if (name.rfind("attnlab-strategy-", 0) == 0 && e.path().extension() == ".so") files.push_back(e.path().string());
        }
        std::sort(files.begin(), files.end());
        for (const std::string& f : files) {
            Status s = loadPlugin(f);
            // The same plugin reached through two folders is not a problem worth reporting.
            if (!s.isOk() && s.error().find("is already registered") == std::string::npos)
                m_problems.push_back({f, s.error()});
        }
    }
}

std::vector<StrategyInfo> StrategyRegistry::list() const {
    std::vector<StrategyInfo> out;
    for (const auto& e : m_entries) out.push_back(e->info);
    return out;
}

const StrategyFactory* StrategyRegistry::find(const std::string& name) const {
    for (const auto& e : m_entries)
        if (e->info.name == name) return e->factory.get();
    return nullptr;
}

Result<StrategyInstance> StrategyRegistry::create(const std::string& spec_text) const {
    using R = Result<StrategyInstance>;
    Result<StrategySpec> spec = parseStrategySpec(spec_text);
    if (!spec) return R::fail(spec.error());
    const Entry* entry = nullptr;
    for (const auto& e : m_entries)
        if (e->info.name == spec->name) entry = e.get();
    if (!entry) {
        std::string names;
        for (const auto& e : m_entries) names += (names.empty() ? "" : ", ") + e->info.name;
        return R::fail("unknown strategy '" + spec->name + "'; available: " + names);
    }
    Result<ParamValues> values = bindParams(spec->name, entry->info.params, *spec);
    if (!values) return R::fail(values.error());
    Result<std::unique_ptr<Strategy>> strategy = entry->factory->create(*values);
    if (!strategy) return R::fail(spec->name + ": " + strategy.error());
    StrategyInstance inst;
    inst.strategy = std::shared_ptr<Strategy>(std::move(*strategy));
    inst.info = entry->info;
    inst.canonical_spec = values->canonical(spec->name);
    return inst;
}

}  // namespace attnlab
