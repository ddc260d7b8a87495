// The one C entry point of a strategy plugin (a MODULE library loaded by StrategyRegistry).
// The descriptor is append-only and size-versioned: new fields go at the end, struct_size tells
// the loader which ones a plugin has. The C++ factory behind it is only used when the ABI tag
// (compiler, C++ ABI, LibTorch version) equals the loader's, so C++ objects can cross safely.
#pragma once

#include <cstdint>

#include <torch/csrc/api/include/torch/version.h>

#include "core/strategy/strategy.h"

#define ATTNLAB_PLUGIN_API_VERSION 3u  // 2: Strategy::ropePosition, LayerContext::inv_freq; 3: Strategy::prefillBlockMask
#define ATTNLAB_PLUGIN_ENTRY_SYMBOL "attnlab_plugin_descriptor"

#define ATTNLAB_STR_(x) #x
#define ATTNLAB_STR(x) ATTNLAB_STR_(x)
#if defined(__clang__)
#define ATTNLAB_COMPILER_TAG "clang-" ATTNLAB_STR(__clang_major__)
#elif defined(__GNUC__)
#define ATTNLAB_COMPILER_TAG "gcc-" ATTNLAB_STR(__GNUC__)
#else
#define ATTNLAB_COMPILER_TAG "unknown"
#endif
#ifndef _GLIBCXX_USE_CXX11_ABI
#define _GLIBCXX_USE_CXX11_ABI 0
#endif
// Evaluated in the translation unit that uses it: the plugin's own build settings.
#define ATTNLAB_ABI_TAG                                                                             \
    ATTNLAB_COMPILER_TAG ";cxx11abi=" ATTNLAB_STR(_GLIBCXX_USE_CXX11_ABI) ";torch=" ATTNLAB_STR( \
        TORCH_VERSION_MAJOR) "." ATTNLAB_STR(TORCH_VERSION_MINOR) ";api=" ATTNLAB_STR(ATTNLAB_PLUGIN_API_VERSION)

extern "C" {

struct AttnlabPluginDescriptor {
    uint32_t api_version;  // ATTNLAB_PLUGIN_API_VERSION of the plugin's headers
    uint32_t struct_size;  // sizeof(AttnlabPluginDescriptor) as the plugin saw it
    const char* abi_tag;   // ATTNLAB_ABI_TAG as the plugin saw it
    const char* name;      // strategy name, e.g. "snapkv"
    // Returns a new factory (owned by the caller, freed with destroy_factory); nullptr on failure.
    attnlab::StrategyFactory* (*create_factory)();
    void (*destroy_factory)(attnlab::StrategyFactory*);
};

typedef const AttnlabPluginDescriptor* (*AttnlabPluginEntry)();
}

// Defines the entry point of a plugin whose factory is made by `make_factory_expr` (a
// std::unique_ptr<attnlab::StrategyFactory> expression). Use once per plugin, outside namespaces.
#define ATTNLAB_DEFINE_PLUGIN(strategy_name, make_factory_expr)                                            \
    extern "C" __attribute__((visibility("default"))) const AttnlabPluginDescriptor*                      \
    attnlab_plugin_descriptor() {                                                                          \
        static const AttnlabPluginDescriptor descriptor{                                                   \
            ATTNLAB_PLUGIN_API_VERSION, static_cast<uint32_t>(sizeof(AttnlabPluginDescriptor)),            \
            ATTNLAB_ABI_TAG, strategy_name,                                                                \
            []() -> attnlab::StrategyFactory* {                                                            \
                try {                                                                                      \
                    return (make_factory_expr).release();                                                  \
                } catch (...) {                                                                            \
                    return nullptr;                                                                        \
                }                                                                                          \
            },                                                                                             \
            [](attnlab::StrategyFactory* f) { delete f; }};                                                \
        return &descriptor;                                                                                \
    }
