// UTF-8 and Unicode helpers for the tokenizers: decoding, lossy repair the way Rust's
// String::from_utf8_lossy does it (one U+FFFD per maximal invalid subpart), character classes with
// Rust's char semantics, normal forms through utf8proc, and GPT-2's byte <-> code point table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace attnlab::unicode {

constexpr uint32_t kReplacementChar = 0xFFFD;

// Length in bytes of the well-formed sequence starting at text[pos], or 0 when the bytes there are
// ill-formed; then *invalid_length receives the length of the maximal invalid subpart (>= 1).
size_t sequenceLength(std::string_view text, size_t pos, size_t* invalid_length);

// Decodes the code point at text[pos]; text must be valid UTF-8 there. *length receives its byte length.
uint32_t decodeAt(std::string_view text, size_t pos, size_t* length);

void appendUtf8(std::string& out, uint32_t code_point);
std::string encodeUtf8(uint32_t code_point);

bool isValidUtf8(std::string_view text);
// Valid UTF-8 with each maximal invalid subpart replaced by U+FFFD (String::from_utf8_lossy).
std::string toValidUtf8(std::string_view bytes);
// Valid UTF-8 with every byte of an invalid subpart written as the four characters \xNN.
std::string escapeInvalidUtf8(std::string_view bytes);

// Rust's char::is_whitespace (the White_Space property).
bool isWhitespace(uint32_t code_point);
// The Rust regex crate's \w: Alphabetic (approximated by L* and Nl), M*, Nd, Pc, ZWNJ and ZWJ.
bool isWordChar(uint32_t code_point);

enum class NormalForm { Nfc = 1, Nfd, Nfkc, Nfkd };
std::string normalize(std::string_view text, NormalForm form);
// Rust's char::to_lowercase per character (no context: final sigma stays σ).
std::string toLowercase(std::string_view text);
// Removes nonspacing marks (category Mn), as the StripAccents normalizer does after NFD.
std::string stripNonspacingMarks(std::string_view text);

// GPT-2's bytes_to_unicode: byte -> UTF-8 of the printable stand-in code point.
const std::array<std::string, 256>& byteToUnicode();
// Inverse of byteToUnicode on code points; -1 when the code point stands for no byte.
int unicodeToByte(uint32_t code_point);

}  // namespace attnlab::unicode
