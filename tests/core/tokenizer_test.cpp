// Tokenizer tests. Expected ids of the hand-built tokenizer.json files below are derived by hand from
// the BPE algorithm (comments show the derivation), never from our own output. TokenizerParity
// compares against golden files made by Hugging Face tokenizers (tests/parity/make_fixtures.py).
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sentencepiece_trainer.h>

#include "core/tokenizer/hf_pipeline.h"
#include "core/tokenizer/hf_tokenizer.h"
#include "core/tokenizer/tokenizer.h"

#ifndef ATTNLAB_SOURCE_DIR
#error "ATTNLAB_SOURCE_DIR must name the repository root"
#endif

namespace attnlab {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

// GPT-2's bytes_to_unicode, written out here independently of core/tokenizer/unicode.cpp.
std::string byteChar(int b) {
    int code_point = b;
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (!printable) {
        int n = 0;
        for (int k = 0; k < b; ++k) {
            const bool p = (k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF);
            if (!p) ++n;
        }
        code_point = 256 + n;
    }
    std::string out;
    if (code_point < 0x80) {
        out.push_back(static_cast<char>(code_point));
    } else {
        out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
        out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
    }
    return out;
}

const std::string kG = byteChar(' ');  // "Ġ"
const std::string kMeta = "\xE2\x96\x81";  // "▁"

// Byte-level vocab: the stand-in of byte b has id b.
json byteLevelVocab() {
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) vocab[byteChar(b)] = b;
    return vocab;
}

std::unique_ptr<Tokenizer> load(const json& j) {
    auto result = HfTokenizer::fromJsonText(j.dump(), "test.json");
    EXPECT_TRUE(result.isOk()) << result.error();
    if (!result) return nullptr;
    return std::move(result.value());
}

std::string loadError(const std::string& text) {
    auto result = HfTokenizer::fromJsonText(text, "tokenizer.json");
    EXPECT_FALSE(result.isOk());
    return result.isOk() ? std::string() : result.error();
}

// A GPT-2 style tokenizer: ByteLevel pre-tokenizer with the GPT-2 regex, byte-level decoder.
//   256 Ġt   257 he   258 Ġthe   259 ll   260 hell   261 lo   262 aa
// merge ranks: 0 "l l", 1 "h e", 2 "he ll", 3 "l o", 4 "Ġ t", 5 "Ġt he", 6 "a a"
json gpt2Json() {
    json vocab = byteLevelVocab();
    vocab[kG + "t"] = 256;
    vocab["he"] = 257;
    vocab[kG + "the"] = 258;
    vocab["ll"] = 259;
    vocab["hell"] = 260;
    vocab["lo"] = 261;
    vocab["aa"] = 262;
    json j;
    j["version"] = "1.0";
    j["added_tokens"] = json::array();
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                          {"use_regex", true}};
    j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false},
                           {"use_regex", true}};
    j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    j["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", nullptr},
                  {"continuing_subword_prefix", ""},
                  {"end_of_word_suffix", ""},
                  {"fuse_unk", false},
                  {"byte_fallback", false},
                  {"vocab", vocab},
                  {"merges", {"l l", "h e", "he ll", "l o", kG + " t", kG + "t he", "a a"}}};
    return j;
}

TEST(TokenizerBpe, MergesByRankThenLeftmost) {
    auto tok = load(gpt2Json());
    ASSERT_TRUE(tok);
    // "hello": (l,l) r0 -> (h,e) r1 -> (he,ll) r2 = hell; the queued (l,o) r3 is stale -> [hell, o]
    EXPECT_EQ(tok->encode("hello", false), (Ids{260, 'o'}));
    // " the": (h,e) r1 -> (Ġ,t) r4 -> (Ġt,he) r5 -> [Ġthe]
    EXPECT_EQ(tok->encode(" the", false), (Ids{258}));
    // "aaa": both (a,a) pairs have rank 6; the leftmost wins -> [aa, a]
    EXPECT_EQ(tok->encode("aaa", false), (Ids{262, 'a'}));
    EXPECT_EQ(tok->encode("hello the aaa", false), (Ids{260, 'o', 258, ' ', 262, 'a'}));
    EXPECT_EQ(tok->encode("", false), Ids{});
}

TEST(TokenizerBpe, Gpt2RegexPreTokenization) {
    auto tok = load(gpt2Json());
    ASSERT_TRUE(tok);
    // "a  b": \s+(?!\S) takes one space, the other joins " b".
    EXPECT_EQ(tok->encode("a  b", false), (Ids{'a', ' ', ' ', 'b'}));
    // Contractions split off: "it", "'s"; "hel" "lo" do not merge across pre-tokens.
    EXPECT_EQ(tok->encode("it's", false), (Ids{'i', 't', '\'', 's'}));
    // "'hello" is a punctuation run "'" then letters "hello" -> [', hell, o]
    EXPECT_EQ(tok->encode("'hello", false), (Ids{'\'', 260, 'o'}));
    // Bytes of non-ASCII text map through the byte table: é = C3 A9, 😀 = F0 9F 98 80.
    EXPECT_EQ(tok->encode("\xC3\xA9", false), (Ids{0xC3, 0xA9}));
    EXPECT_EQ(tok->encode("\xF0\x9F\x98\x80", false), (Ids{0xF0, 0x9F, 0x98, 0x80}));
    // The ByteLevel post-processor adds nothing.
    EXPECT_EQ(tok->encode("hello", true), (Ids{260, 'o'}));
}

TEST(TokenizerBpe, AddPrefixSpace) {
    json j = gpt2Json();
    j["pre_tokenizer"]["add_prefix_space"] = true;
    auto tok = load(j);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->encode("the", false), (Ids{258}));
    EXPECT_EQ(tok->encode(" the", false), (Ids{258}));  // no second space
}

TEST(TokenizerBpe, DecodeAndTokenText) {
    auto tok = load(gpt2Json());
    ASSERT_TRUE(tok);
    const char* const texts[] = {"hello the aaa", "a  b\n\n c",
                                 "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87"};
    for (const std::string text : texts) {
        EXPECT_EQ(tok->decode(tok->encode(text, false), false), text);
    }
    EXPECT_EQ(tok->tokenText(' '), " ");
    EXPECT_EQ(tok->tokenText(258), " the");
    EXPECT_EQ(tok->tokenText(0xC3), "\\xC3");
    // A lone lead byte decodes to U+FFFD, as String::from_utf8_lossy does.
    EXPECT_EQ(tok->decode({'a', 0xC3}, false), "a\xEF\xBF\xBD");
    EXPECT_EQ(tok->vocabSize(), 263);
    EXPECT_EQ(tok->tokenToId(kG + "the"), 258);
    EXPECT_FALSE(tok->tokenToId("nope").has_value());
}

TEST(TokenizerBpe, InvalidUtf8InputIsRepaired) {
    auto tok = load(gpt2Json());
    ASSERT_TRUE(tok);
    // The lone 0xFF becomes U+FFFD (EF BF BD) before tokenizing.
    EXPECT_EQ(tok->encode("a\xFF", false), (Ids{'a', 0xEF, 0xBF, 0xBD}));
}

json addedToken(int id, const std::string& content, bool special, bool lstrip = false, bool rstrip = false,
                bool single_word = false, bool normalized = false) {
    return {{"id", id},         {"content", content},         {"single_word", single_word}, {"lstrip", lstrip},
            {"rstrip", rstrip}, {"normalized", normalized}, {"special", special}};
}

TEST(TokenizerAddedTokens, SplitLongestFirstWithFlags) {
    json j = gpt2Json();
    j["added_tokens"] = {addedToken(300, "<|endoftext|>", true), addedToken(301, "<|end|>", true),
                         addedToken(303, "<mask>", true, true), addedToken(304, "<r>", true, false, true),
                         addedToken(305, "hi", false, false, false, true)};
    auto tok = load(j);
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->encode("a<|endoftext|>b", false), (Ids{'a', 300, 'b'}));
    EXPECT_EQ(tok->encode("<|end|><|endoftext|>", false), (Ids{301, 300}));
    // lstrip: the space before <mask> belongs to it; " b" keeps its space.
    EXPECT_EQ(tok->encode("a <mask> b", false), (Ids{'a', 303, ' ', 'b'}));
    // rstrip: both spaces after <r> belong to it.
    EXPECT_EQ(tok->encode("<r>  b", false), (Ids{304, 'b'}));
    // single_word: "hi" inside "this" is not a token; " there" -> (h,e) (Ġ,t) (Ġt,he) -> [Ġthe, r, e]
    EXPECT_EQ(tok->encode("hi there", false), (Ids{305, 258, 'r', 'e'}));
    EXPECT_EQ(tok->encode("this", false), (Ids{'t', 'h', 'i', 's'}));

    EXPECT_EQ(tok->decode({'a', 300, 'b'}, false), "a<|endoftext|>b");
    EXPECT_EQ(tok->decode({'a', 300, 'b'}, true), "ab");
    EXPECT_EQ(tok->decode({305, 258}, true), "hi the");  // 305 is added but not special
    EXPECT_TRUE(tok->isSpecial(300));
    EXPECT_FALSE(tok->isSpecial(305));
    EXPECT_FALSE(tok->isSpecial('a'));
    EXPECT_EQ(tok->tokenToId("<|endoftext|>"), 300);
    EXPECT_EQ(tok->tokenText(300), "<|endoftext|>");
    EXPECT_EQ(tok->vocabSize(), 306);
}

// Llama-3 layout: Split(Llama-3 regex) then ByteLevel without its own regex; BOS by TemplateProcessing.
json llama3Json(bool ignore_merges) {
    json j = gpt2Json();
    j["model"]["vocab"]["12"] = 271;
    j["model"]["vocab"]["34"] = 272;
    j["model"]["vocab"][kG + "hello"] = 270;  // in the vocab, but no merge path reaches it
    j["model"]["merges"].push_back("1 2");
    j["model"]["merges"].push_back("3 4");
    j["model"]["ignore_merges"] = ignore_merges;
    const std::string pattern = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|)"
                                R"( ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
    j["added_tokens"] = {addedToken(400, "<|begin_of_text|>", true)};
    j["post_processor"] = {
        {"type", "Sequence"},
        {"processors",
         {{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}},
          {{"type", "TemplateProcessing"},
           {"single",
            {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
           {"pair", json::array()},
           {"special_tokens",
            {{"<|begin_of_text|>",
              {{"id", "<|begin_of_text|>"}, {"ids", {400}}, {"tokens", {"<|begin_of_text|>"}}}}}}}}}};
    return j;
}

TEST(TokenizerBpe, Llama3SplitDigitsInThrees) {
    auto tok = load(llama3Json(true));
    ASSERT_TRUE(tok);
    // \p{N}{1,3}: "123" "45" -> [12, 3] [4, 5]; one pre-token would have given [12, 34, 5].
    EXPECT_EQ(tok->encode("12345", false), (Ids{271, '3', '4', '5'}));
    EXPECT_EQ(tok->encode("12345", true), (Ids{400, 271, '3', '4', '5'}));
    EXPECT_EQ(tok->encode("<|begin_of_text|>12", true), (Ids{400, 400, 271}));
    EXPECT_EQ(tok->decode({400, 271}, true), "12");
    EXPECT_EQ(tok->decode({400, 271}, false), "<|begin_of_text|>12");

    auto gpt2 = load([] {
        json j = llama3Json(true);
        j["pre_tokenizer"] = gpt2Json()["pre_tokenizer"];
        return j;
    }());
    ASSERT_TRUE(gpt2);
    EXPECT_EQ(gpt2->encode("12345", false), (Ids{271, 272, '5'}));
}

TEST(TokenizerBpe, IgnoreMergesEmitsVocabWordsWhole) {
    auto with = load(llama3Json(true));
    auto without = load(llama3Json(false));
    ASSERT_TRUE(with && without);
    EXPECT_EQ(with->encode(" hello", false), (Ids{270}));
    // Merges alone: (l,l) (h,e) (he,ll) -> [Ġ, hell, o]
    EXPECT_EQ(without->encode(" hello", false), (Ids{' ', 260, 'o'}));
}

// Llama-2 / Mistral style tokenizer.json: Prepend + Replace normalizer, no pre-tokenizer,
// byte_fallback, SentencePiece-like decoder chain.
//   0 <unk>  1 <s>  2 </s>  3..258 <0x00>..<0xFF>  259 ▁  260 h  261 e  262 l  263 o
//   264 ▁h  265 ll  266 ▁he  267 ▁hell  268 ▁hello
json llama2Json() {
    json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        vocab[name] = 3 + b;
    }
    vocab[kMeta] = 259;
    vocab["h"] = 260;
    vocab["e"] = 261;
    vocab["l"] = 262;
    vocab["o"] = 263;
    vocab[kMeta + "h"] = 264;
    vocab["ll"] = 265;
    vocab[kMeta + "he"] = 266;
    vocab[kMeta + "hell"] = 267;
    vocab[kMeta + "hello"] = 268;
    json j;
    j["added_tokens"] = {addedToken(0, "<unk>", true), addedToken(1, "<s>", true), addedToken(2, "</s>", true)};
    j["normalizer"] = {{"type", "Sequence"},
                       {"normalizers",
                        {{{"type", "Prepend"}, {"prepend", kMeta}},
                         {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMeta}}}}};
    j["pre_tokenizer"] = nullptr;
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single",
                            {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                           {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
    j["decoder"] = {{"type", "Sequence"},
                    {"decoders",
                     {{{"type", "Replace"}, {"pattern", {{"String", kMeta}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
    j["model"] = {{"type", "BPE"},
                  {"unk_token", "<unk>"},
                  {"fuse_unk", true},
                  {"byte_fallback", true},
                  {"vocab", vocab},
                  {"merges", json::array({json::array({kMeta, "h"}), json::array({"l", "l"}),
                                          json::array({kMeta + "h", "e"}), json::array({kMeta + "he", "ll"}),
                                          json::array({kMeta + "hell", "o"})})}};
    return j;
}

TEST(TokenizerSentencePieceJson, PrependReplaceByteFallback) {
    auto tok = load(llama2Json());
    ASSERT_TRUE(tok);
    // "▁hello": (▁,h) (l,l) (▁h,e) (▁he,ll) (▁hell,o) -> [▁hello]
    EXPECT_EQ(tok->encode("hello", false), (Ids{268}));
    EXPECT_EQ(tok->encode("hello", true), (Ids{1, 268}));
    // é is not in the vocab: its bytes C3 A9 fall back to <0xC3> <0xA9> = 3 + 0xC3, 3 + 0xA9.
    EXPECT_EQ(tok->encode("hello \xC3\xA9", false), (Ids{268, 259, 3 + 0xC3, 3 + 0xA9}));
    // Pieces around an added token are normalized separately: each gets its own ▁ (tokenizers does this).
    EXPECT_EQ(tok->encode("a<s>b", false), (Ids{259, 3 + 'a', 1, 259, 3 + 'b'}));

    EXPECT_EQ(tok->decode({1, 268, 259, 3 + 0xC3, 3 + 0xA9}, true), "hello \xC3\xA9");
    EXPECT_EQ(tok->decode({1, 268, 259, 3 + 0xC3, 3 + 0xA9}, false), "<s> hello \xC3\xA9");
    // An incomplete byte sequence becomes one U+FFFD per byte.
    EXPECT_EQ(tok->decode({268, 3 + 0xC3}, false), "hello\xEF\xBF\xBD");
    EXPECT_EQ(tok->tokenText(268), " hello");
    EXPECT_EQ(tok->tokenText(3 + 0xC3), "\\xC3");
    EXPECT_EQ(tok->tokenText(3 + 'a'), "a");
}

TEST(TokenizerSentencePieceJson, NormalizedAddedTokenDecodesFromNormalizedForm) {
    json j = llama2Json();
    j["added_tokens"].push_back(addedToken(269, "<x>", false, false, false, false, true));
    auto tok = load(j);
    ASSERT_TRUE(tok);
    // The normalized trie holds "▁<x>" (Prepend applied), so " <x>" -> "▁▁<x>" -> [▁, <x>].
    EXPECT_EQ(tok->encode(" <x>", false), (Ids{259, 269}));
    // decode hands the decoder "▁<x>" (tokenizers' normalized cache): " " + " <x>", then Strip drops one space.
    EXPECT_EQ(tok->decode({259, 269}, false), " <x>");
    EXPECT_EQ(tok->tokenText(269), "<x>");
}

TEST(TokenizerSentencePieceJson, UnknownCharactersFuse) {
    json j;
    j["model"] = {{"type", "BPE"}, {"unk_token", "<unk>"}, {"fuse_unk", true},
                  {"vocab", {{"<unk>", 0}, {"a", 1}}}, {"merges", json::array()}};
    auto fused = load(j);
    j["model"]["fuse_unk"] = false;
    auto separate = load(j);
    ASSERT_TRUE(fused && separate);
    EXPECT_EQ(fused->encode("xyaz", false), (Ids{0, 1, 0}));
    EXPECT_EQ(separate->encode("xyaz", false), (Ids{0, 0, 1, 0}));
    EXPECT_EQ(fused->decode({0, 1}, false), "<unk> a");  // no decoder: tokens joined by spaces
}

json metaspaceJson(const std::string& scheme) {
    json j;
    j["added_tokens"] = {addedToken(0, "<s>", true)};
    j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", scheme}, {"split", true}};
    j["decoder"] = {{"type", "Metaspace"}, {"replacement", kMeta}, {"prepend_scheme", scheme}, {"split", true}};
    j["model"] = {{"type", "BPE"},
                  {"vocab", {{"<s>", 0}, {kMeta + "a", 1}, {kMeta, 2}, {"a", 3}, {"b", 4}, {kMeta + "b", 5}}},
                  {"merges", {kMeta + " a", kMeta + " b"}}};
    return j;
}

TEST(TokenizerPreTokenizers, MetaspacePrependSchemes) {
    auto first = load(metaspaceJson("first"));
    auto always = load(metaspaceJson("always"));
    auto never = load(metaspaceJson("never"));
    ASSERT_TRUE(first && always && never);
    // "a b" -> "▁a▁b" -> split before each ▁ -> [▁a, ▁b]
    EXPECT_EQ(first->encode("a b", false), (Ids{1, 5}));
    // After <s> the text does not start at offset 0, so "first" does not prepend.
    EXPECT_EQ(first->encode("<s>a b", false), (Ids{0, 3, 5}));
    EXPECT_EQ(always->encode("<s>a b", false), (Ids{0, 1, 5}));
    EXPECT_EQ(never->encode("a b", false), (Ids{3, 5}));
    EXPECT_EQ(first->decode({1, 5}, false), "a b");
    EXPECT_EQ(never->decode({1, 5}, false), " a b");
}

TEST(TokenizerPreTokenizers, SplitBehaviors) {
    const Pattern dash = Pattern::literal("-");
    auto pieces = [&](SplitBehavior behavior, const Pattern& pattern) {
        const std::string text = "the-final--countdown";
        std::vector<std::string> out;
        for (const auto& [begin, end] : splitRanges(text, pattern, behavior)) {
            out.push_back(text.substr(begin, end - begin));
        }
        return out;
    };
    using S = std::vector<std::string>;
    EXPECT_EQ(pieces(SplitBehavior::Removed, dash), (S{"the", "final", "countdown"}));
    EXPECT_EQ(pieces(SplitBehavior::Isolated, dash), (S{"the", "-", "final", "-", "-", "countdown"}));
    EXPECT_EQ(pieces(SplitBehavior::MergedWithPrevious, dash), (S{"the-", "final-", "-", "countdown"}));
    EXPECT_EQ(pieces(SplitBehavior::MergedWithNext, dash), (S{"the", "-final", "-", "-countdown"}));
    EXPECT_EQ(pieces(SplitBehavior::Contiguous, dash), (S{"the", "-", "final", "--", "countdown"}));
    // invert: the words are the matches, so Removed drops them.
    const Pattern words = Pattern::regex(Regex::compile("[a-z]+").value(), true);
    EXPECT_EQ(pieces(SplitBehavior::Removed, words), (S{"the", "final", "countdown"}));
}

TEST(TokenizerPreTokenizers, DigitsAndNfc) {
    json j = gpt2Json();
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           {{{"type", "Digits"}, {"individual_digits", true}},
                            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    j["model"]["vocab"]["12"] = 271;
    j["model"]["merges"].push_back("1 2");
    auto digits = load(j);
    ASSERT_TRUE(digits);
    EXPECT_EQ(digits->encode("12", false), (Ids{'1', '2'}));  // individual digits never merge

    json n = gpt2Json();
    auto plain = load(n);
    n["normalizer"] = {{"type", "NFC"}};
    auto nfc = load(n);
    ASSERT_TRUE(plain && nfc);
    // e + U+0301 (CC 81) composes to é (C3 A9) under NFC.
    EXPECT_EQ(nfc->encode("e\xCC\x81", false), (Ids{0xC3, 0xA9}));
    EXPECT_EQ(plain->encode("e\xCC\x81", false), (Ids{'e', 0xCC, 0x81}));

    n["normalizer"] = {{"type", "Lowercase"}};
    auto lower = load(n);
    ASSERT_TRUE(lower);
    // Rust's char::to_lowercase: İ (C4 B0) -> i + U+0307 (CC 87); Σ (CE A3) -> σ (CF 83) even word-final.
    EXPECT_EQ(lower->encode("\xC4\xB0", false), (Ids{'i', 0xCC, 0x87}));
    EXPECT_EQ(lower->encode("A\xCE\xA3", false), (Ids{'a', 0xCF, 0x83}));
}

TEST(TokenizerPreTokenizers, WhitespaceKeepsCombiningMarksInWords) {
    json j = gpt2Json();
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           {{{"type", "Whitespace"}},
                            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    j["model"]["vocab"]["!x"] = 263;
    j["model"]["vocab"]["e" + byteChar(0xCC)] = 264;
    j["model"]["merges"].push_back("! x");
    j["model"]["merges"].push_back("e " + byteChar(0xCC));
    auto tok = load(j);
    ASSERT_TRUE(tok);
    // \w+|[^\w\s]+: "!" and "x" are separate pieces, so "! x" never merges; spaces are dropped.
    EXPECT_EQ(tok->encode("a !x", false), (Ids{'a', '!', 'x'}));
    // U+0301 (CC 81) is a mark, part of the word for Rust's \w: "e\u0301" stays one piece -> [eÌ, 0x81]
    EXPECT_EQ(tok->encode("e\xCC\x81", false), (Ids{264, 0x81}));
}

TEST(TokenizerErrors, UnsupportedAndMalformed) {
    json j = gpt2Json();
    j["pre_tokenizer"] = {{"type", "UnicodeScripts"}};
    EXPECT_EQ(loadError(j.dump()), "tokenizer.json: pre_tokenizer type 'UnicodeScripts' is not supported");

    j = gpt2Json();
    j["model"]["type"] = "Unigram";
    EXPECT_EQ(loadError(j.dump()), "tokenizer.json: model type 'Unigram' is not supported");

    j = gpt2Json();
    j["decoder"] = {{"type", "WordPiece"}};
    EXPECT_EQ(loadError(j.dump()), "tokenizer.json: decoder type 'WordPiece' is not supported");

    j = gpt2Json();
    j["model"]["merges"].push_back("x zz");
    EXPECT_NE(loadError(j.dump()).find("'zz', which is not in the vocab"), std::string::npos);

    j = gpt2Json();
    j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
    EXPECT_NE(loadError(j.dump()).find("does not compile"), std::string::npos);

    EXPECT_NE(loadError("{\"model\": ").find("tokenizer.json: not a valid tokenizer.json"), std::string::npos);
    EXPECT_NE(loadError("[1, 2]").find("tokenizer.json: "), std::string::npos);
    EXPECT_NE(loadError("{}").find("model"), std::string::npos);

    j = gpt2Json();
    j["model"]["vocab"] = {{"a", "zero"}};
    EXPECT_NE(loadError(j.dump()).find("not an integer"), std::string::npos);
}

std::string makeTempDir() {
    char pattern[] = "/tmp/attnlab_tokenizer_XXXXXX";
    const char* dir = ::mkdtemp(pattern);
    return dir ? std::string(dir) : std::string();
}

void writeFile(const std::string& path, const std::string& text) {
    std::ofstream file(path, std::ios::binary);
    file << text;
}

TEST(TokenizerFiles, FromDirectoryAndErrors) {
    const std::string dir = makeTempDir();
    ASSERT_FALSE(dir.empty());
    auto missing = Tokenizer::fromDirectory(dir);
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.error().find(dir), std::string::npos);

    writeFile(dir + "/tokenizer.json", gpt2Json().dump());
    auto found = Tokenizer::fromDirectory(dir);
    ASSERT_TRUE(found.isOk()) << found.error();
    EXPECT_EQ(found.value()->encode(" the", false), (Ids{258}));

    writeFile(dir + "/tokenizer.json", "{ broken");
    auto broken = Tokenizer::fromDirectory(dir);
    ASSERT_FALSE(broken.isOk());
    EXPECT_NE(broken.error().find(dir + "/tokenizer.json"), std::string::npos);

    auto absent = Tokenizer::fromTokenizerJson(dir + "/nothing.json");
    EXPECT_FALSE(absent.isOk());
    auto not_sp = Tokenizer::fromSentencePiece(dir + "/tokenizer.json");
    EXPECT_FALSE(not_sp.isOk());
    std::remove((dir + "/tokenizer.json").c_str());
    ::rmdir(dir.c_str());
}

TEST(TokenizerSentencePiece, TrainedModelRoundTrips) {
    const std::string dir = makeTempDir();
    ASSERT_FALSE(dir.empty());
    std::string corpus;
    for (int i = 0; i < 200; ++i) {
        corpus += "the quick brown fox jumps over the lazy dog " + std::to_string(i) + "\n";
        corpus += "hello world, attention is all you need\n";
    }
    writeFile(dir + "/corpus.txt", corpus);
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + dir + "/corpus.txt --model_prefix=" + dir +
        "/tokenizer --vocab_size=300 --model_type=bpe --byte_fallback=true --minloglevel=2");
    ASSERT_TRUE(status.ok()) << status.ToString();

    auto result = Tokenizer::fromDirectory(dir);
    ASSERT_TRUE(result.isOk()) << result.error();
    const Tokenizer& tok = *result.value();
    const Ids plain = tok.encode("hello world", false);
    const Ids with_bos = tok.encode("hello world", true);
    ASSERT_FALSE(plain.empty());
    ASSERT_EQ(with_bos.size(), plain.size() + 1);
    EXPECT_EQ(with_bos[0], 1);  // SentencePiece's default bos id
    EXPECT_TRUE(tok.isSpecial(1));
    EXPECT_FALSE(tok.isSpecial(plain[0]));
    EXPECT_EQ(tok.decode(with_bos, true), "hello world");
    EXPECT_EQ(tok.tokenText(plain[0]).substr(0, 1), " ");
    // Characters outside the training text fall back to bytes: 中 = E4 B8 AD.
    const Ids cjk = tok.encode("\xE4\xB8\xAD", false);
    std::string shown;
    for (int32_t id : cjk) shown += tok.tokenText(id);
    EXPECT_NE(shown.find("\\xE4\\xB8\\xAD"), std::string::npos) << shown;
    EXPECT_EQ(tok.decode(cjk, false), "\xE4\xB8\xAD");
    EXPECT_EQ(tok.tokenToId("<s>"), 1);
    EXPECT_FALSE(tok.tokenToId("no such piece").has_value());
    EXPECT_EQ(tok.vocabSize(), 300);

    for (const char* name : {"/corpus.txt", "/tokenizer.model", "/tokenizer.vocab"}) std::remove((dir + name).c_str());
    ::rmdir(dir.c_str());
}

// Timings are not asserted here (benchmarks are programs); the time is printed for a look.
TEST(TokenizerLargeInput, HundredThousandCharactersRoundTrip) {
    auto tok = load(llama3Json(true));
    ASSERT_TRUE(tok);
    std::string text;
    const char* words[] = {"hello",  " the",   " aaa",   " 12345", " caf\xC3\xA9", "\n\n",
                           "   ",    " \xE4\xB8\xAD\xE6\x96\x87", " it's", " \xF0\x9F\x98\x80", " world", "!"};
    for (size_t i = 0; text.size() < 100000; ++i) text += words[(i * 7) % 12];
    const auto start = std::chrono::steady_clock::now();
    const Ids ids = tok->encode(text, false);
    const double elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(tok->decode(ids, false), text);
    std::printf("encode of %zu bytes: %.1f ms, %zu tokens\n", text.size(), elapsed_ms, ids.size());
}

// --- parity with Hugging Face (goldens from tests/parity/make_fixtures.py) ------------------------

std::vector<std::string> parityFamilies() {
    std::vector<std::string> families;
    const std::string root = std::string(ATTNLAB_SOURCE_DIR) + "/tests/fixtures/parity";
    DIR* dir = ::opendir(root.c_str());
    if (!dir) return families;
    while (const dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        struct stat info {};
        if (name[0] == '.' || ::stat((root + "/" + name + "/golden.json").c_str(), &info) != 0) continue;
        families.push_back(name);
    }
    ::closedir(dir);
    std::sort(families.begin(), families.end());
    return families;
}

TEST(TokenizerParity, GoldenFamilies) {
    const std::vector<std::string> families = parityFamilies();
    if (families.empty()) GTEST_SKIP() << "no fixtures under tests/fixtures/parity (run tests/parity/make_fixtures.py)";
    for (const std::string& family : families) {
        SCOPED_TRACE(family);
        const std::string dir = std::string(ATTNLAB_SOURCE_DIR) + "/tests/fixtures/parity/" + family;
        std::ifstream file(dir + "/golden.json");
        std::stringstream text;
        text << file.rdbuf();
        const json golden = json::parse(text.str(), nullptr, false);
        ASSERT_FALSE(golden.is_discarded()) << dir << "/golden.json is not JSON";
        if (!golden.contains("tokenize")) continue;
        auto tokenizer = Tokenizer::fromDirectory(dir);
        ASSERT_TRUE(tokenizer.isOk()) << tokenizer.error();
        const Tokenizer& tok = *tokenizer.value();
        size_t checked = 0;
        for (const json& item : golden["tokenize"]) {
            const std::string input = item["text"].get<std::string>();
            SCOPED_TRACE("text: " + input);
            if (item.contains("ids_with_special")) {
                EXPECT_EQ(tok.encode(input, true), item["ids_with_special"].get<Ids>());
            }
            if (item.contains("ids_without_special")) {
                const Ids ids = item["ids_without_special"].get<Ids>();
                EXPECT_EQ(tok.encode(input, false), ids);
                // decoded is decode(ids_without_special, skip_special_tokens=False), no clean-up.
                if (item.contains("decoded")) {
                    EXPECT_EQ(tok.decode(ids, false), item["decoded"].get<std::string>());
                }
            }
            ++checked;
        }
        EXPECT_GT(checked, 0u);
        std::printf("TokenizerParity: %s: %zu strings\n", family.c_str(), checked);
    }
}

}  // namespace
}  // namespace attnlab
