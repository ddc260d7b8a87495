#include "core/tokenizer/unicode.h"

#include <cstdlib>

#include <utf8proc.h>

namespace attnlab::unicode {

namespace {

bool isContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

bool isAscii(std::string_view text) {
    for (char c : text) {
        if (static_cast<uint8_t>(c) >= 0x80) return false;
    }
    return true;
}

struct ByteTables {
    std::array<std::string, 256> to_unicode;
    std::array<int16_t, 512> to_byte{};  // stand-in code points are all below 512
};

const ByteTables& byteTables() {
    static const ByteTables tables = [] {
        ByteTables t;
        t.to_byte.fill(-1);
        int extra = 0;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const uint32_t code_point = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + extra++);
            t.to_unicode[b] = encodeUtf8(code_point);
            t.to_byte[code_point] = static_cast<int16_t>(b);
        }
        return t;
    }();
    return tables;
}

}  // namespace

size_t sequenceLength(std::string_view text, size_t pos, size_t* invalid_length) {
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    const size_t n = text.size();
    const uint8_t lead = p[pos];
    if (lead < 0x80) return 1;
    size_t need = 0;
    uint8_t second_lo = 0x80;
    uint8_t second_hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1;
    } else if (lead == 0xE0) {
        need = 2;
        second_lo = 0xA0;
    } else if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
        need = 2;
    } else if (lead == 0xED) {
        need = 2;
        second_hi = 0x9F;
    } else if (lead == 0xF0) {
        need = 3;
        second_lo = 0x90;
    } else if (lead >= 0xF1 && lead <= 0xF3) {
        need = 3;
    } else if (lead == 0xF4) {
        need = 3;
        second_hi = 0x8F;
    } else {
        if (invalid_length) *invalid_length = 1;
        return 0;
    }
    for (size_t k = 1; k <= need; ++k) {
        const bool ok = pos + k < n && (k == 1 ? (p[pos + k] >= second_lo && p[pos + k] <= second_hi)
                                               : isContinuation(p[pos + k]));
        if (!ok) {
            if (invalid_length) *invalid_length = k;
            return 0;
        }
    }
    return need + 1;
}

uint32_t decodeAt(std::string_view text, size_t pos, size_t* length) {
    const auto* p = reinterpret_cast<const uint8_t*>(text.data()) + pos;
    const uint8_t lead = p[0];
    if (lead < 0x80) {
        *length = 1;
        return lead;
    }
    if (lead < 0xE0) {
        *length = 2;
        return (static_cast<uint32_t>(lead & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (lead < 0xF0) {
        *length = 3;
        return (static_cast<uint32_t>(lead & 0x0F) << 12) | (static_cast<uint32_t>(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    *length = 4;
    return (static_cast<uint32_t>(lead & 0x07) << 18) | (static_cast<uint32_t>(p[1] & 0x3F) << 12) |
           (static_cast<uint32_t>(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string encodeUtf8(uint32_t code_point) {
    std::string out;
    appendUtf8(out, code_point);
    return out;
}

bool isValidUtf8(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
        const size_t length = sequenceLength(text, pos, nullptr);
        if (length == 0) return false;
        pos += length;
    }
    return true;
}

std::string toValidUtf8(std::string_view bytes) {
    if (isValidUtf8(bytes)) return std::string(bytes);
    std::string out;
    out.reserve(bytes.size() + 8);
    for (size_t pos = 0; pos < bytes.size();) {
        size_t invalid_length = 0;
        const size_t length = sequenceLength(bytes, pos, &invalid_length);
        if (length > 0) {
            out.append(bytes.substr(pos, length));
            pos += length;
        } else {
            appendUtf8(out, kReplacementChar);
            pos += invalid_length;
        }
    }
    return out;
}

std::string escapeInvalidUtf8(std::string_view bytes) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(bytes.size());
    for (size_t pos = 0; pos < bytes.size();) {
        size_t invalid_length = 0;
        const size_t length = sequenceLength(bytes, pos, &invalid_length);
        if (length > 0) {
            out.append(bytes.substr(pos, length));
            pos += length;
            continue;
        }
        for (size_t k = 0; k < invalid_length; ++k) {
            const auto b = static_cast<uint8_t>(bytes[pos + k]);
            out += "\\x";
            out.push_back(kHex[b >> 4]);
            out.push_back(kHex[b & 0xF]);
        }
        pos += invalid_length;
    }
    return out;
}

bool isWhitespace(uint32_t cp) {
    switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

bool isWordChar(uint32_t cp) {
    if (cp < 0x80) {
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    }
    if (cp == 0x200C || cp == 0x200D) return true;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return false;
    }
}

std::string normalize(std::string_view text, NormalForm form) {
    if (isAscii(text)) return std::string(text);  // ASCII is invariant under all four forms
    int options = UTF8PROC_STABLE;
    switch (form) {
    case NormalForm::Nfc: options |= UTF8PROC_COMPOSE; break;
    case NormalForm::Nfd: options |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::Nfkc: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::Nfkd: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t length =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                     &mapped, static_cast<utf8proc_option_t>(options));
    if (length < 0) return std::string(text);  // only for invalid UTF-8, which callers never pass
    std::string out(reinterpret_cast<const char*>(mapped), static_cast<size_t>(length));
    std::free(mapped);
    return out;
}

std::string toLowercase(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        size_t length = 0;
        const uint32_t cp = decodeAt(text, pos, &length);
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
        } else if (cp == 0x130) {
            out += "i\xCC\x87";  // the one unconditional multi-character lowercase mapping: İ -> i + U+0307
        } else {
            appendUtf8(out, static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
        }
        pos += length;
    }
    return out;
}

std::string stripNonspacingMarks(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        size_t length = 0;
        const uint32_t cp = decodeAt(text, pos, &length);
        if (cp < 0x80 || utf8proc_category(static_cast<utf8proc_int32_t>(cp)) != UTF8PROC_CATEGORY_MN) {
            out.append(text.substr(pos, length));
        }
        pos += length;
    }
    return out;
}

const std::array<std::string, 256>& byteToUnicode() { return byteTables().to_unicode; }

int unicodeToByte(uint32_t code_point) {
    if (code_point >= 512) return -1;
    return byteTables().to_byte[code_point];
}

}  // namespace attnlab::unicode
