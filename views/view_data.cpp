#include "views/view_data.h"

#include <algorithm>
#include <cstdio>

namespace attnlab {

const AttentionMatrix* RunData::capture(int64_t layer, int64_t head) const {
    for (const AttentionMatrix& m : captures)
        if (m.layer == layer && m.head == head) return &m;
    return nullptr;
}

int64_t ComparisonData::groupSize() const {
    if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0) return 1;
    return heads / kv_heads;
}

int64_t ComparisonData::kvHeadOf(int64_t head) const { return head / groupSize(); }

std::string displayToken(const std::string& text, size_t max_chars) {
    std::string out;
    size_t chars = 0;
    bool is_cut = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if ((c & 0xC0) != 0x80) {  // a character starts here (UTF-8 lead byte or ASCII)
            if (chars == max_chars) {
                is_cut = true;
                break;
            }
            ++chars;
        }
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    if (is_cut) out += "…";
    return out;
}

}  // namespace attnlab
