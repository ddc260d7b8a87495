// What a canvas's drawing code gets for one frame. Private to views/ (includes imgui.h).
#pragma once

#include <imgui.h>

#include <cstdint>
#include <map>

#include "views/colormap.h"

namespace attnlab {

// GL textures of view-model images, per GL context. The context must be current for every call.
class TextureCache {
public:
    TextureCache() = default;
    ~TextureCache();  // leaks nothing only if clear() ran with the context current
    TextureCache(const TextureCache&) = delete;
    TextureCache& operator=(const TextureCache&) = delete;

    // The texture for `image` in `slot` (one slot per picture a canvas shows), uploaded again
    // when the image's version changed. Nearest-neighbour filtering: cells stay crisp when zoomed.
    ImTextureID texture(int slot, const RgbaImage& image);
    void clear();
    void forget() { m_entries.clear(); }  // the context is gone with its textures

private:
    struct Entry {
        unsigned int id = 0;
        uint64_t version = 0;
    };
    std::map<int, Entry> m_entries;
};

struct CanvasFrame {
    TextureCache* textures = nullptr;
    bool is_interactive = true;  // false when drawing a figure for export
};

}  // namespace attnlab
