// Tests for the safetensors reader/writer. The golden byte strings marked "reference" are the expected
// outputs/inputs from huggingface/safetensors' own unit tests (safetensors/src/tensor.rs), so the
// writer is checked against an independent implementation rather than against our own reader.
#include "core/io/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>
#include "tests/remove_tree.h"

namespace attnlab {
namespace {

std::string readBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void writeBytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << path;
}

std::string lengthField(uint64_t value) {
    std::string bytes;
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
    return bytes;
}

// A file image: length field (the header's real length unless overridden), header text, data bytes.
std::string fileImage(const std::string& header, const std::string& data) {
    return lengthField(header.size()) + header + data;
}

uint64_t readLengthField(const std::string& bytes) {
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes.at(i));
    return value;
}

// Valid UTF-8 without control characters: what every error message must be, whatever the file held.
bool isCleanUtf8(const std::string& text) {
    size_t i = 0;
    while (i < text.size()) {
        const unsigned char lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x20 || lead == 0x7f) return false;
        const size_t length = lead < 0x80             ? 1
                              : (lead & 0xe0) == 0xc0 ? 2
                              : (lead & 0xf0) == 0xe0 ? 3
                              : (lead & 0xf8) == 0xf0 ? 4
                                                      : 0;
        if (length == 0 || i + length > text.size()) return false;
        for (size_t k = 1; k < length; ++k) {
            if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
        }
        i += length;
    }
    return true;
}

std::string bytesOf(std::initializer_list<int> values) {
    std::string bytes;
    for (int value : values) bytes.push_back(static_cast<char>(value));
    return bytes;
}

std::string floatBytes(std::initializer_list<float> values) {
    std::string bytes;
    for (float value : values) {
        char raw[sizeof(float)];
        std::memcpy(raw, &value, sizeof(float));
        bytes.append(raw, sizeof(float));
    }
    return bytes;
}

std::string viewBytes(const TensorView& view) {
    return std::string(static_cast<const char*>(view.data), view.byte_size);
}

// Every error must name the file and say what is wrong; `words` are the distinguishing part.
void expectMentions(const std::string& error, std::initializer_list<std::string> words) {
    EXPECT_FALSE(error.empty());
    for (const std::string& word : words) {
        EXPECT_NE(error.find(word), std::string::npos) << "expected '" << word << "' in: " << error;
    }
}

class SafetensorsTempDir : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/attnlab_safetensors_XXXXXX";
        const char* made = ::mkdtemp(pattern);
        ASSERT_NE(made, nullptr);
        m_dir = made;
    }
    void TearDown() override { attnlab::test::removeTree(m_dir); }
    std::string pathOf(const std::string& name) const { return m_dir + "/" + name; }

    // Writes `bytes` as `name` and returns the open error (failing the test if the open succeeds).
    std::string openError(const std::string& name, const std::string& bytes) {
        const std::string path = pathOf(name);
        writeBytes(path, bytes);
        Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
        EXPECT_FALSE(file.isOk()) << "opened a corrupt file: " << path;
        return file.isOk() ? std::string() : file.error();
    }

    std::string m_dir;
};

// ---------------------------------------------------------------------------------------------------------------
// dtype helpers

TEST(SafetensorsDType, NamesAndSizes) {
    EXPECT_STREQ(dtypeName(DType::F32), "F32");
    EXPECT_STREQ(dtypeName(DType::BF16), "BF16");
    EXPECT_STREQ(dtypeName(DType::Bool), "BOOL");
    EXPECT_EQ(dtypeSize(DType::F64), 8u);
    EXPECT_EQ(dtypeSize(DType::F32), 4u);
    EXPECT_EQ(dtypeSize(DType::F16), 2u);
    EXPECT_EQ(dtypeSize(DType::BF16), 2u);
    EXPECT_EQ(dtypeSize(DType::I64), 8u);
    EXPECT_EQ(dtypeSize(DType::I32), 4u);
    EXPECT_EQ(dtypeSize(DType::I16), 2u);
    EXPECT_EQ(dtypeSize(DType::I8), 1u);
    EXPECT_EQ(dtypeSize(DType::U8), 1u);
    EXPECT_EQ(dtypeSize(DType::Bool), 1u);
    EXPECT_EQ(dtypeSize(DType::Invalid), 0u);
}

TEST(SafetensorsDType, Numel) {
    TensorView view;
    EXPECT_EQ(view.numel(), 1);  // a scalar
    view.shape = {2, 3, 4};
    EXPECT_EQ(view.numel(), 24);
    view.shape = {5, 0, 7};
    EXPECT_EQ(view.numel(), 0);
    view.shape = {2, -1};
    EXPECT_EQ(view.numel(), -1);
    view.shape = {int64_t{1} << 40, int64_t{1} << 40};
    EXPECT_EQ(view.numel(), -1);
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips and reference bytes

class SafetensorsRoundTrip : public SafetensorsTempDir {};

TEST_F(SafetensorsRoundTrip, FloatTensorsAndMetadata) {
    const std::vector<float> weights = {1.0f, -2.5f, 3.25f, 0.0f, 1e-7f, -1e30f};
    const std::vector<uint16_t> half = {0x3c00, 0xc000, 0x7c00, 0x0001};  // 1, -2, +inf, smallest subnormal
    const std::vector<uint16_t> brain = {0x3f80, 0xbf80, 0x7f80};         // 1, -1, +inf
    const std::vector<TensorToWrite> tensors = {
        {"model.layers.0.self_attn.q_proj.weight", DType::F32, {2, 3}, weights.data(), 24},
        {"half", DType::F16, {4}, half.data(), 8},
        {"brain", DType::BF16, {1, 3}, brain.data(), 6},
    };
    const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "ünïcode \"quoted\""}};
    const std::string path = pathOf("round.safetensors");
    const Status written = writeSafetensors(path, tensors, metadata);
    ASSERT_TRUE(written.isOk()) << written.error();

    Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
    ASSERT_TRUE(file.isOk()) << file.error();
    EXPECT_EQ(file.value()->path(), path);
    EXPECT_EQ(file.value()->metadata(), metadata);
    EXPECT_EQ(file.value()->names(),
              (std::vector<std::string>{"brain", "half", "model.layers.0.self_attn.q_proj.weight"}));
    EXPECT_EQ(file.value()->find("missing"), nullptr);

    for (const TensorToWrite& expected : tensors) {
        const TensorView* view = file.value()->find(expected.name);
        ASSERT_NE(view, nullptr) << expected.name;
        EXPECT_EQ(view->name, expected.name);
        EXPECT_EQ(view->dtype, expected.dtype);
        EXPECT_EQ(view->shape, expected.shape);
        EXPECT_EQ(view->byte_size, expected.byte_size);
        EXPECT_EQ(view->file, path);
        EXPECT_EQ(view->numel() * static_cast<int64_t>(dtypeSize(view->dtype)), static_cast<int64_t>(view->byte_size));
        EXPECT_EQ(std::memcmp(view->data, expected.data, expected.byte_size), 0) << expected.name;
        // The writer pads the header and orders tensors so that every tensor is aligned to its element size.
        EXPECT_EQ(reinterpret_cast<uintptr_t>(view->data) % dtypeSize(view->dtype), 0u) << expected.name;
    }

    const std::string bytes = readBytes(path);
    ASSERT_GE(bytes.size(), 8u);
    const uint64_t header_bytes = readLengthField(bytes);
    EXPECT_EQ(header_bytes % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + header_bytes + 24 + 8 + 6);
}

TEST_F(SafetensorsRoundTrip, AllDTypesScalarsAndEmptyTensors) {
    const double f64 = 2.5;
    const int64_t i64 = -3;
    const int32_t i32 = 7;
    const int16_t i16 = -9;
    const int8_t i8 = 5;
    const uint8_t u8 = 200;
    const uint8_t flags[3] = {1, 0, 1};
    const std::vector<TensorToWrite> tensors = {
        {"f64", DType::F64, {}, &f64, 8},      {"i64", DType::I64, {1}, &i64, 8},
        {"i32", DType::I32, {1}, &i32, 4},     {"i16", DType::I16, {1}, &i16, 2},
        {"i8", DType::I8, {1, 1}, &i8, 1},     {"u8", DType::U8, {1}, &u8, 1},
        {"flags", DType::Bool, {3}, flags, 3}, {"empty", DType::F32, {4, 0}, nullptr, 0},
    };
    const std::string path = pathOf("all.safetensors");
    ASSERT_TRUE(writeSafetensors(path, tensors).isOk());
    Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
    ASSERT_TRUE(file.isOk()) << file.error();
    EXPECT_TRUE(file.value()->metadata().empty());
    ASSERT_EQ(file.value()->names().size(), tensors.size());
    for (const TensorToWrite& expected : tensors) {
        const TensorView* view = file.value()->find(expected.name);
        ASSERT_NE(view, nullptr) << expected.name;
        EXPECT_EQ(view->dtype, expected.dtype);
        EXPECT_EQ(view->shape, expected.shape);
        ASSERT_EQ(view->byte_size, expected.byte_size);
        if (expected.byte_size > 0) {
            EXPECT_EQ(std::memcmp(view->data, expected.data, expected.byte_size), 0) << expected.name;
        }
    }
    EXPECT_EQ(file.value()->find("f64")->numel(), 1);
    EXPECT_EQ(file.value()->find("empty")->numel(), 0);
}

TEST_F(SafetensorsRoundTrip, WriterMatchesReferenceBytes) {
    // reference: test_empty
    ASSERT_TRUE(writeSafetensors(pathOf("empty.safetensors"), {}).isOk());
    EXPECT_EQ(readBytes(pathOf("empty.safetensors")),
              bytesOf({8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 32, 32, 32, 32, 32, 32}));

    ASSERT_TRUE(writeSafetensors(pathOf("meta.safetensors"), {}, {{"framework", "pt"}}).isOk());
    EXPECT_EQ(readBytes(pathOf("meta.safetensors")),
              lengthField(40) + "{\"__metadata__\":{\"framework\":\"pt\"}}" + std::string(5, ' '));

    // reference: test_serialization and test_serialization_forced_alignement
    const std::vector<float> values = {0, 1, 2, 3, 4, 5};
    ASSERT_TRUE(
        writeSafetensors(pathOf("a.safetensors"), {{"attn.0", DType::F32, {1, 2, 3}, values.data(), 24}}).isOk());
    EXPECT_EQ(readBytes(pathOf("a.safetensors")),
              lengthField(64) + "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}" +
                  floatBytes({0, 1, 2, 3, 4, 5}));
    ASSERT_TRUE(
        writeSafetensors(pathOf("b.safetensors"), {{"attn0", DType::F32, {1, 1, 2, 3}, values.data(), 24}}).isOk());
    EXPECT_EQ(readBytes(pathOf("b.safetensors")),
              lengthField(72) + "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}" +
                  std::string(7, ' ') + floatBytes({0, 1, 2, 3, 4, 5}));
}

TEST_F(SafetensorsRoundTrip, ReadsReferenceFiles) {
    // reference: test_deserialization (unpadded 60-byte header)
    const std::string header = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    ASSERT_EQ(header.size(), 60u);
    writeBytes(pathOf("ref.safetensors"), fileImage(header, std::string(16, '\0')));
    Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(pathOf("ref.safetensors"));
    ASSERT_TRUE(file.isOk()) << file.error();
    const TensorView* view = file.value()->find("test");
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->dtype, DType::I32);
    EXPECT_EQ(view->shape, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(viewBytes(*view), std::string(16, '\0'));

    // reference: test_whitespace_padded_header, and an empty header is a valid file with no tensors
    writeBytes(pathOf("ws.safetensors"), fileImage("{}\r \t\n", ""));
    file = SafetensorsFile::open(pathOf("ws.safetensors"));
    ASSERT_TRUE(file.isOk()) << file.error();
    EXPECT_TRUE(file.value()->names().empty());
    EXPECT_TRUE(file.value()->metadata().empty());

    writeBytes(pathOf("null_meta.safetensors"), fileImage("{\"__metadata__\":null}", ""));
    file = SafetensorsFile::open(pathOf("null_meta.safetensors"));
    ASSERT_TRUE(file.isOk()) << file.error();
    EXPECT_TRUE(file.value()->metadata().empty());

    // reference: test_empty_shapes_allowed (a scalar)
    writeBytes(pathOf("scalar.safetensors"),
               fileImage("{\"test\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}", std::string(4, '\0')));
    file = SafetensorsFile::open(pathOf("scalar.safetensors"));
    ASSERT_TRUE(file.isOk()) << file.error();
    EXPECT_TRUE(file.value()->find("test")->shape.empty());
}

TEST_F(SafetensorsRoundTrip, ViewsOutliveTheFileHandleAndSurviveOverwrite) {
    const std::vector<float> before = {1, 2, 3, 4};
    const std::vector<float> after = {9, 9};
    const std::string path = pathOf("model.safetensors");
    ASSERT_TRUE(writeSafetensors(path, {{"w", DType::F32, {4}, before.data(), 16}}).isOk());
    Result<Checkpoint> checkpoint = Checkpoint::open(m_dir);
    ASSERT_TRUE(checkpoint.isOk()) << checkpoint.error();
    const Checkpoint copy = checkpoint.value();  // copies share the mapped files
    checkpoint = Result<Checkpoint>::fail("dropped");

    // The writer renames a finished temp file over the target, so the old mapping stays intact.
    ASSERT_TRUE(writeSafetensors(path, {{"w", DType::F32, {2}, after.data(), 8}}).isOk());
    const TensorView* view = copy.find("w");
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(viewBytes(*view), floatBytes({1, 2, 3, 4}));
    EXPECT_EQ(SafetensorsFile::open(path).value()->find("w")->byte_size, 8u);
}

// ---------------------------------------------------------------------------------------------------------------
// Corrupt files: each must fail with the path and a word that says what is wrong

class SafetensorsCorrupt : public SafetensorsTempDir {};

const char* const kGoodEntry = "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}";

TEST_F(SafetensorsCorrupt, MissingFile) {
    Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(pathOf("nope.safetensors"));
    ASSERT_FALSE(file.isOk());
    expectMentions(file.error(), {pathOf("nope.safetensors"), "cannot open"});
}

TEST_F(SafetensorsCorrupt, DirectoryIsNotAFile) {
    Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(m_dir);
    ASSERT_FALSE(file.isOk());
    expectMentions(file.error(), {m_dir, "regular file"});
}

TEST_F(SafetensorsCorrupt, FifoDoesNotHang) {
    const std::string path = pathOf("fifo.safetensors");
    ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
    ASSERT_FALSE(file.isOk());
    expectMentions(file.error(), {path, "regular file"});
}

TEST_F(SafetensorsCorrupt, ZeroLengthFile) {
    expectMentions(openError("zero.safetensors", ""), {pathOf("zero.safetensors"), "too short"});
}

TEST_F(SafetensorsCorrupt, TruncatedLengthField) {
    expectMentions(openError("short.safetensors", std::string(5, '\0')), {pathOf("short.safetensors"), "truncated"});
}

TEST_F(SafetensorsCorrupt, TruncatedData) {
    // A whole file cut short: the header is intact but the tensor's bytes are not all there.
    const std::string image = fileImage(std::string("{") + kGoodEntry + "}", std::string(16, '\x01'));
    expectMentions(openError("cut.safetensors", image.substr(0, image.size() - 4)),
                   {pathOf("cut.safetensors"), "tensor 'w' claims bytes 0..16 but the data section has 12"});
}

TEST_F(SafetensorsCorrupt, HeaderLengthPastEnd) {
    const std::string header = std::string("{") + kGoodEntry + "}";
    expectMentions(openError("len.safetensors", lengthField(header.size() + 100) + header),
                   {pathOf("len.safetensors"), "header length", "past the end"});
    expectMentions(openError("huge.safetensors", lengthField(UINT64_MAX) + header),
                   {pathOf("huge.safetensors"), "header length", "past the end"});
}

TEST_F(SafetensorsCorrupt, HeaderLengthOverLimit) {
    // A sparse file big enough that only the 100 MB cap can refuse it.
    const std::string path = pathOf("big.safetensors");
    writeBytes(path, lengthField(150'000'000));
    ASSERT_EQ(::truncate(path.c_str(), 150'000'100), 0);
    Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
    ASSERT_FALSE(file.isOk());
    expectMentions(file.error(), {path, "header length", "limit"});
}

TEST_F(SafetensorsCorrupt, BadJson) {
    expectMentions(openError("json.safetensors", fileImage("{\"w\": {\"dtype\": ", "")),
                   {pathOf("json.safetensors"), "not valid JSON"});
    expectMentions(openError("utf8.safetensors", fileImage("{\"\xff\":1}", "")),
                   {pathOf("utf8.safetensors"), "not valid JSON"});
    expectMentions(openError("empty.safetensors", fileImage("", "")), {pathOf("empty.safetensors"), "not valid JSON"});
}

TEST_F(SafetensorsCorrupt, NonObjectJson) {
    expectMentions(openError("array.safetensors", fileImage("[1, 2, 3]", "")),
                   {pathOf("array.safetensors"), "array", "not an object"});
    expectMentions(openError("entry.safetensors", fileImage("{\"w\": 5}", "")),
                   {pathOf("entry.safetensors"), "tensor 'w'", "not an object"});
}

TEST_F(SafetensorsCorrupt, DuplicateKey) {
    const std::string header = std::string("{") + kGoodEntry + "," + kGoodEntry + "}";
    expectMentions(openError("dup.safetensors", fileImage(header, std::string(16, '\0'))),
                   {pathOf("dup.safetensors"), "duplicate", "'w'"});
}

TEST_F(SafetensorsCorrupt, DeepNesting) {
    const std::string header = "{\"__metadata__\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
    expectMentions(openError("deep.safetensors", fileImage(header, "")),
                   {pathOf("deep.safetensors"), "header nests deeper than"});
}

TEST_F(SafetensorsCorrupt, UnknownDType) {
    expectMentions(
        openError("dtype.safetensors", fileImage("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                                                 std::string(4, '\0'))),
        {pathOf("dtype.safetensors"), "unsupported dtype 'F8_E4M3'", "tensor 'w'"});
    expectMentions(
        openError("dtype2.safetensors", fileImage("{\"w\":{\"dtype\":4,\"shape\":[4],\"data_offsets\":[0,4]}}", "")),
        {pathOf("dtype2.safetensors"), "dtype is not a string"});
}

TEST_F(SafetensorsCorrupt, MissingField) {
    expectMentions(openError("field.safetensors", fileImage("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", "")),
                   {pathOf("field.safetensors"), "no \"data_offsets\""});
}

TEST_F(SafetensorsCorrupt, NegativeShape) {
    expectMentions(
        openError("neg.safetensors", fileImage("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}",
                                               std::string(16, '\0'))),
        {pathOf("neg.safetensors"), "shape[1] is negative"});
}

TEST_F(SafetensorsCorrupt, NonIntegerShape) {
    expectMentions(openError("float.safetensors",
                             fileImage("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", "")),
                   {pathOf("float.safetensors"), "shape[0] is not an integer"});
    expectMentions(openError("str.safetensors",
                             fileImage("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", "")),
                   {pathOf("str.safetensors"), "shape[0] is not an integer"});
    expectMentions(
        openError("obj.safetensors", fileImage("{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", "")),
        {pathOf("obj.safetensors"), "shape is not a list"});
}

TEST_F(SafetensorsCorrupt, SizeMismatch) {
    expectMentions(
        openError("size.safetensors", fileImage("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}",
                                                std::string(16, '\0'))),
        {pathOf("size.safetensors"), "size mismatch", "needs 16 bytes"});
}

TEST_F(SafetensorsCorrupt, ShapeOverflow) {
    // reference: test_validation_overflow
    expectMentions(
        openError("overflow.safetensors",
                  fileImage("{\"test\":{\"dtype\":\"I32\",\"shape\":[2,9223372036854775807],\"data_offsets\":[0,16]}}",
                            std::string(16, '\0'))),
        {pathOf("overflow.safetensors"), "overflow"});
    expectMentions(
        openError("toolarge.safetensors",
                  fileImage("{\"test\":{\"dtype\":\"I32\",\"shape\":[2,18446744073709551614],\"data_offsets\":[0,16]}}",
                            std::string(16, '\0'))),
        {pathOf("toolarge.safetensors"), "too large"});
}

TEST_F(SafetensorsCorrupt, RangeOutsideData) {
    expectMentions(openError("range.safetensors", fileImage("{\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[1024],"
                                                            "\"data_offsets\":[0,4096]}}",
                                                            std::string(1024, '\0'))),
                   {pathOf("range.safetensors") + ": tensor 'lm_head.weight' claims bytes 0..4096 but the data "
                                                  "section has 1024"});
    expectMentions(openError("far.safetensors", fileImage("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":"
                                                          "[18446744073709551615,18446744073709551616]}}",
                                                          "")),
                   {pathOf("far.safetensors"), "data_offsets[1] is not an integer"});
    expectMentions(
        openError("reversed.safetensors",
                  fileImage("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", std::string(4, '\0'))),
        {pathOf("reversed.safetensors"), "begin after they end"});
}

TEST_F(SafetensorsCorrupt, OverlappingRanges) {
    expectMentions(
        openError("overlap.safetensors", fileImage("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                                                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
                                                   std::string(20, '\0'))),
        {pathOf("overlap.safetensors"), "'a' (bytes 0..16) and 'b' (bytes 12..20) overlap"});
    // One range nested inside a longer one, with a third in between in name order.
    expectMentions(
        openError("nested.safetensors", fileImage("{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
                                                  "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
                                                  "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]}}",
                                                  std::string(16, '\0'))),
        {pathOf("nested.safetensors"), "overlap"});
}

TEST_F(SafetensorsCorrupt, EmptyRangesDoNotOverlap) {
    const std::string path = pathOf("empty_ranges.safetensors");
    writeBytes(path, fileImage("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                               "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]},"
                               "\"c\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                               std::string(4, '\0')));
    Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
    ASSERT_TRUE(file.isOk()) << file.error();
    EXPECT_EQ(file.value()->names().size(), 3u);
}

TEST_F(SafetensorsCorrupt, MetadataNotStrings) {
    expectMentions(openError("meta.safetensors", fileImage("{\"__metadata__\":{\"format\":\"pt\",\"layers\":12}}", "")),
                   {pathOf("meta.safetensors"), "__metadata__ value for 'layers' is not a string"});
    expectMentions(openError("meta2.safetensors", fileImage("{\"__metadata__\":[\"pt\"]}", "")),
                   {pathOf("meta2.safetensors"), "__metadata__ is a JSON array"});
}

TEST_F(SafetensorsCorrupt, HostileBytesAreEscapedInMessages) {
    const std::string header = "{\"evil\\u001b[2J\":{\"dtype\":\"Q\",\"shape\":[],\"data_offsets\":[0,0]}}";
    const std::string error = openError("evil.safetensors", fileImage(header, ""));
    expectMentions(error, {"'evil\\x1b[2J'"});
    EXPECT_TRUE(isCleanUtf8(error)) << error;

    const std::string json_error = openError("bytes.safetensors", fileImage("{\"a\":\x92\xff\x01}", ""));
    expectMentions(json_error, {"not valid JSON", "\\x92"});
    EXPECT_TRUE(isCleanUtf8(json_error)) << json_error;

    const std::string name_error = openError("uni.safetensors", fileImage("{\"gr\xc3\xbc\xc3\x9f"
                                                                          "e\": 1}",
                                                                          ""));
    expectMentions(name_error, {"'gr\xc3\xbc\xc3\x9f"
                                "e'"});  // valid UTF-8 names are shown as they are
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoint directories

class SafetensorsCheckpoint : public SafetensorsTempDir {
protected:
    void writeShard(const std::string& name, const std::vector<std::string>& tensor_names) {
        std::vector<TensorToWrite> tensors;
        for (const std::string& tensor_name : tensor_names) {
            tensors.push_back({tensor_name, DType::F32, {2}, m_values.data(), 8});
        }
        const Status status = writeSafetensors(pathOf(name), tensors);
        ASSERT_TRUE(status.isOk()) << status.error();
    }
    void writeIndex(const std::string& weight_map_json) {
        writeBytes(pathOf("model.safetensors.index.json"),
                   "{\"metadata\": {\"total_size\": 32}, \"weight_map\": " + weight_map_json + "}");
    }
    void writeTwoShardCheckpoint() {
        writeShard("model-00001-of-00002.safetensors", {"embed.weight", "layers.0.weight"});
        writeShard("model-00002-of-00002.safetensors", {"layers.1.weight", "lm_head.weight"});
        writeIndex(
            "{\"embed.weight\": \"model-00001-of-00002.safetensors\","
            " \"layers.0.weight\": \"model-00001-of-00002.safetensors\","
            " \"layers.1.weight\": \"model-00002-of-00002.safetensors\","
            " \"lm_head.weight\": \"model-00002-of-00002.safetensors\"}");
    }
    std::string openError() {
        Result<Checkpoint> checkpoint = Checkpoint::open(m_dir);
        EXPECT_FALSE(checkpoint.isOk());
        return checkpoint.isOk() ? std::string() : checkpoint.error();
    }

    std::vector<float> m_values = {0.5f, -0.5f};
};

TEST_F(SafetensorsCheckpoint, SingleFile) {
    writeShard("model.safetensors", {"a", "b"});
    writeBytes(pathOf("pytorch_model.bin"), "not a pickle, and never opened");
    Result<Checkpoint> checkpoint = Checkpoint::open(m_dir);
    ASSERT_TRUE(checkpoint.isOk()) << checkpoint.error();
    EXPECT_EQ(checkpoint.value().dir(), m_dir);
    EXPECT_EQ(checkpoint.value().names(), (std::vector<std::string>{"a", "b"}));
    const TensorView* view = checkpoint.value().find("b");
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->file, pathOf("model.safetensors"));
    EXPECT_EQ(viewBytes(*view), floatBytes({0.5f, -0.5f}));
    EXPECT_EQ(checkpoint.value().find("c"), nullptr);
}

TEST_F(SafetensorsCheckpoint, ShardedIndex) {
    writeTwoShardCheckpoint();
    Result<Checkpoint> checkpoint = Checkpoint::open(m_dir + "/");
    ASSERT_TRUE(checkpoint.isOk()) << checkpoint.error();
    EXPECT_EQ(checkpoint.value().names(),
              (std::vector<std::string>{"embed.weight", "layers.0.weight", "layers.1.weight", "lm_head.weight"}));
    EXPECT_EQ(checkpoint.value().find("layers.0.weight")->file, pathOf("model-00001-of-00002.safetensors"));
    EXPECT_EQ(checkpoint.value().find("lm_head.weight")->file, pathOf("model-00002-of-00002.safetensors"));
    EXPECT_EQ(viewBytes(*checkpoint.value().find("lm_head.weight")), floatBytes({0.5f, -0.5f}));
}

TEST_F(SafetensorsCheckpoint, MissingShard) {
    writeTwoShardCheckpoint();
    std::filesystem::remove(pathOf("model-00002-of-00002.safetensors"));
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "'model-00002-of-00002.safetensors'",
                                 "'layers.1.weight'", "does not exist"});
}

TEST_F(SafetensorsCheckpoint, TensorMissingFromShard) {
    writeTwoShardCheckpoint();
    writeShard("model-00002-of-00002.safetensors", {"lm_head.weight"});
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "'layers.1.weight'",
                                 "'model-00002-of-00002.safetensors'", "no such tensor"});
}

TEST_F(SafetensorsCheckpoint, TensorInTwoShards) {
    writeTwoShardCheckpoint();
    writeShard("model-00002-of-00002.safetensors", {"layers.1.weight", "lm_head.weight", "embed.weight"});
    expectMentions(openError(), {m_dir, "'embed.weight'", "two shards", "model-00001-of-00002.safetensors",
                                 "model-00002-of-00002.safetensors"});
}

TEST_F(SafetensorsCheckpoint, CorruptShardNamesTheShard) {
    writeTwoShardCheckpoint();
    writeBytes(pathOf("model-00002-of-00002.safetensors"), lengthField(1000));
    expectMentions(openError(), {pathOf("model-00002-of-00002.safetensors"), "header length"});
}

TEST_F(SafetensorsCheckpoint, BadIndex) {
    writeBytes(pathOf("model.safetensors.index.json"), "{\"weight_map\": ");
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "not valid JSON"});
    writeIndex("[]");
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "weight_map"});
    writeIndex("{}");
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "no tensors"});
    writeIndex("{\"a\": 3}");
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "'a'", "not a file name"});
}

TEST_F(SafetensorsCheckpoint, ShardOutsideDirectoryRefused) {
    writeIndex("{\"a\": \"../elsewhere.safetensors\"}");
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "not a plain file name"});
    writeIndex("{\"a\": \"/etc/passwd\"}");
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "not a plain file name"});
}

TEST_F(SafetensorsCheckpoint, IndexPointingAtPickleRefused) {
    writeBytes(pathOf("pytorch_model-00001-of-00001.bin"), "never opened");
    writeIndex("{\"a\": \"pytorch_model-00001-of-00001.bin\"}");
    expectMentions(openError(), {pathOf("model.safetensors.index.json"), "pickle", "safetensors"});
}

TEST_F(SafetensorsCheckpoint, PickleOnlyDirectoryRefused) {
    writeBytes(pathOf("pytorch_model.bin"), "never opened");
    writeBytes(pathOf("config.json"), "{}");
    expectMentions(openError(), {m_dir, "pytorch_model.bin", "pickle", "never", "safe_serialization=True"});

    std::filesystem::remove(pathOf("pytorch_model.bin"));
    writeBytes(pathOf("weights.pt"), "x");
    writeBytes(pathOf("extra.pth"), "x");
    expectMentions(openError(), {m_dir, "extra.pth", "weights.pt", "pickle", "safetensors"});
}

TEST_F(SafetensorsCheckpoint, NoWeights) {
    expectMentions(openError(), {m_dir, "no checkpoint weights", "model.safetensors"});
    writeShard("adapter_model.safetensors", {"a"});
    expectMentions(openError(), {m_dir, "no checkpoint weights", "adapter_model.safetensors"});
}

TEST_F(SafetensorsCheckpoint, MissingDirectory) {
    Result<Checkpoint> checkpoint = Checkpoint::open(pathOf("no_such_model"));
    ASSERT_FALSE(checkpoint.isOk());
    expectMentions(checkpoint.error(), {pathOf("no_such_model"), "does not exist"});

    writeBytes(pathOf("plain_file"), "x");
    checkpoint = Checkpoint::open(pathOf("plain_file"));
    ASSERT_FALSE(checkpoint.isOk());
    expectMentions(checkpoint.error(), {pathOf("plain_file"), "not a directory"});
}

// ---------------------------------------------------------------------------------------------------------------
// Writer errors

class SafetensorsWrite : public SafetensorsTempDir {};

TEST_F(SafetensorsWrite, IoFailureIsReported) {
    const float value = 1;
    const std::string path = pathOf("missing_dir/model.safetensors");
    const Status status = writeSafetensors(path, {{"w", DType::F32, {1}, &value, 4}});
    ASSERT_FALSE(status.isOk());
    expectMentions(status.error(), {path, "cannot"});
}

TEST_F(SafetensorsWrite, InvalidTensorsRejected) {
    const float values[4] = {};
    const std::string path = pathOf("bad.safetensors");
    expectMentions(writeSafetensors(path, {{"w", DType::F32, {3}, values, 16}}).error(), {path, "'w'", "needs 12"});
    expectMentions(writeSafetensors(path, {{"w", DType::Invalid, {1}, values, 4}}).error(), {path, "dtype"});
    expectMentions(writeSafetensors(path, {{"w", DType::F32, {-1}, values, 4}}).error(), {path, "negative"});
    expectMentions(writeSafetensors(path, {{"w", DType::F32, {1}, nullptr, 4}}).error(), {path, "no data"});
    expectMentions(
        writeSafetensors(path, {{"w", DType::F32, {1}, values, 4}, {"w", DType::F32, {1}, values, 4}}).error(),
        {path, "twice"});
    expectMentions(writeSafetensors(path, {{"__metadata__", DType::F32, {1}, values, 4}}).error(),
                   {path, "__metadata__"});
    expectMentions(writeSafetensors(path, {{"bad\xff", DType::F32, {1}, values, 4}}).error(), {path, "UTF-8"});
    EXPECT_FALSE(std::filesystem::exists(path));
    // No temp files are left behind either.
    EXPECT_TRUE(std::filesystem::is_empty(m_dir));
}

// ---------------------------------------------------------------------------------------------------------------
// Fuzz: seeded random mutations of a valid file must never crash or yield views outside the file

class SafetensorsFuzz : public SafetensorsTempDir {};

TEST_F(SafetensorsFuzz, RandomMutationsNeverCrash) {
    const std::vector<float> f32 = {1, 2, 3, 4, 5, 6};
    const std::vector<uint16_t> bf16 = {1, 2, 3, 4};
    const std::vector<int64_t> i64 = {7, 8};
    const uint8_t flags[3] = {1, 0, 1};
    const std::string seed_path = pathOf("seed.safetensors");
    ASSERT_TRUE(writeSafetensors(seed_path,
                                 {{"a.weight", DType::F32, {2, 3}, f32.data(), 24},
                                  {"b", DType::BF16, {4}, bf16.data(), 8},
                                  {"c", DType::I64, {2}, i64.data(), 16},
                                  {"d", DType::Bool, {3}, flags, 3},
                                  {"e", DType::U8, {0}, nullptr, 0}},
                                 {{"format", "pt"}})
                    .isOk());
    const std::string seed = readBytes(seed_path);
    const uint64_t seed_header_bytes = readLengthField(seed);
    ASSERT_LT(8 + seed_header_bytes, seed.size());

    const std::string interesting = "{}[]\",:-0123456789e.\\ ntfu";
    std::mt19937 rng(20240611);
    auto pick = [&rng](size_t limit) { return std::uniform_int_distribution<size_t>(0, limit - 1)(rng); };
    const std::string path = pathOf("fuzz.safetensors");
    int opened_count = 0;
    const int kIterations = 600;
    for (int iteration = 0; iteration < kIterations; ++iteration) {
        std::string bytes = seed;
        uint64_t header_bytes = seed_header_bytes;  // kept in the length field by edits that resize the header
        const size_t mutation_count = 1 + pick(3);
        for (size_t m = 0; m < mutation_count && bytes.size() > 8 + header_bytes && header_bytes > 0; ++m) {
            const size_t header_at = 8 + pick(header_bytes);  // a byte inside the header
            switch (pick(10)) {
                case 0:
                case 1:  // a JSON-ish character
                    bytes[header_at] = interesting[pick(interesting.size())];
                    break;
                case 2:
                case 3: {  // nudge a digit, which moves offsets and shapes around
                    std::vector<size_t> digits;
                    for (size_t i = 8; i < 8 + header_bytes; ++i) {
                        if (bytes[i] >= '0' && bytes[i] <= '9') digits.push_back(i);
                    }
                    if (!digits.empty()) bytes[digits[pick(digits.size())]] = static_cast<char>('0' + pick(10));
                    break;
                }
                case 4:  // insert a character into the header
                    bytes.insert(header_at, 1, interesting[pick(interesting.size())]);
                    bytes.replace(0, 8, lengthField(++header_bytes));
                    break;
                case 5:  // delete a header byte
                    bytes.erase(header_at, 1);
                    bytes.replace(0, 8, lengthField(--header_bytes));
                    break;
                case 6: {  // copy one stretch of the header over another (duplicates keys, offsets, shapes)
                    const size_t length = 1 + pick(12);
                    const size_t from = 8 + pick(header_bytes);
                    if (from + length <= 8 + header_bytes && header_at + length <= 8 + header_bytes) {
                        bytes.replace(header_at, length, bytes.substr(from, length));
                    }
                    break;
                }
                case 7:  // any byte anywhere
                    bytes[pick(bytes.size())] = static_cast<char>(pick(256));
                    break;
                case 8:  // truncate
                    bytes.resize(pick(bytes.size() + 1));
                    break;
                default:  // a slightly or wildly wrong length field
                    bytes.replace(0, 8, lengthField(pick(2) == 0 ? header_bytes + pick(7) - 3 : rng()));
                    break;
            }
        }
        writeBytes(path, bytes);
        Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
        if (!file.isOk()) {
            EXPECT_NE(file.error().find(path), std::string::npos) << file.error();
            EXPECT_TRUE(isCleanUtf8(file.error())) << file.error();
            continue;
        }
        ++opened_count;
        std::vector<std::pair<const char*, const char*>> ranges;
        unsigned checksum = 0;
        for (const std::string& name : file.value()->names()) {
            const TensorView* view = file.value()->find(name);
            ASSERT_NE(view, nullptr);
            ASSERT_EQ(static_cast<uint64_t>(view->numel()) * dtypeSize(view->dtype), view->byte_size) << name;
            if (view->byte_size == 0) continue;
            const char* begin = static_cast<const char*>(view->data);
            for (uint64_t i = 0; i < view->byte_size; ++i) checksum += static_cast<unsigned char>(begin[i]);
            ranges.emplace_back(begin, begin + view->byte_size);
        }
        volatile unsigned sink = checksum;  // the reads above must happen
        (void)sink;
        std::sort(ranges.begin(), ranges.end());
        for (size_t i = 1; i < ranges.size(); ++i) EXPECT_LE(ranges[i - 1].second, ranges[i].first) << "overlap";
        if (!ranges.empty()) {
            // Everything lies inside the data section, which is smaller than the file.
            EXPECT_LE(static_cast<uint64_t>(ranges.back().second - ranges.front().first), bytes.size() - 8);
        }
    }
    // The mutations must not be so destructive that the happy path is never exercised.
    EXPECT_GT(opened_count, 0);
    EXPECT_LT(opened_count, kIterations);
}

TEST_F(SafetensorsFuzz, RandomHeadersMatchAnOracle) {
    // Well-formed headers with random dtypes, shapes and offsets: the reader must accept exactly the ones
    // a direct reading of the rules accepts (sizes match, ranges inside the data, no shared bytes).
    const char* const kNames[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
    const uint64_t kSizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
    std::mt19937 rng(7);
    auto pick = [&rng](uint64_t limit) { return std::uniform_int_distribution<uint64_t>(0, limit - 1)(rng); };
    const std::string path = pathOf("oracle.safetensors");
    int accepted_count = 0;
    const int kIterations = 400;
    for (int iteration = 0; iteration < kIterations; ++iteration) {
        const uint64_t data_bytes = pick(64);
        const size_t tensor_count = 1 + pick(3);
        std::string header = "{";
        bool is_valid = true;
        std::vector<std::pair<uint64_t, uint64_t>> ranges;
        for (size_t t = 0; t < tensor_count; ++t) {
            const size_t dtype = pick(10);
            std::vector<uint64_t> shape(pick(3));
            uint64_t bytes = kSizes[dtype];
            std::string shape_text;
            for (uint64_t& dim : shape) {
                dim = pick(4);
                bytes *= dim;
                shape_text += (shape_text.empty() ? "" : ",") + std::to_string(dim);
            }
            const uint64_t begin = pick(data_bytes + 4);
            uint64_t end = begin + bytes;
            if (pick(8) == 0) end = begin + pick(9);  // sometimes a range that may not match the shape
            is_valid = is_valid && end - begin == bytes && end <= data_bytes;
            if (end > begin) ranges.emplace_back(begin, end);
            header += (t > 0 ? "," : "") + std::string("\"t") + std::to_string(t) + "\":{\"dtype\":\"" + kNames[dtype] +
                      "\",\"shape\":[" + shape_text + "],\"data_offsets\":[" + std::to_string(begin) + "," +
                      std::to_string(end) + "]}";
        }
        header += "}";
        std::sort(ranges.begin(), ranges.end());
        for (size_t i = 1; i < ranges.size(); ++i) is_valid = is_valid && ranges[i - 1].second <= ranges[i].first;

        writeBytes(path, fileImage(header, std::string(data_bytes, '\x5a')));
        Result<std::shared_ptr<SafetensorsFile>> file = SafetensorsFile::open(path);
        ASSERT_EQ(file.isOk(), is_valid) << header << " with " << data_bytes
                                         << " data bytes: " << (file.isOk() ? "accepted" : file.error());
        if (!file.isOk()) continue;
        ++accepted_count;
        for (const std::string& name : file.value()->names()) {
            const TensorView* view = file.value()->find(name);
            EXPECT_EQ(viewBytes(*view), std::string(view->byte_size, '\x5a'));
        }
    }
    EXPECT_GT(accepted_count, kIterations / 10);
    EXPECT_LT(accepted_count, kIterations - kIterations / 10);
}

}  // namespace
}  // namespace attnlab
