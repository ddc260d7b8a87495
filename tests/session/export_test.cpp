// Exporters, checked with independent readers: NumPy's numpy.load for .npy, Python's json and csv modules
// for JSON Lines and CSV (Debian's /usr/bin/python3 with python3-numpy).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/export/npy.h"
#include "core/export/run_export.h"
#include "core/session/session_store.h"
#include "tests/session/session_test_util.h"

namespace attnlab {
namespace {

using Json = nlohmann::json;

constexpr const char* kPython = "/usr/bin/python3";

// Runs `script` with `args` under /usr/bin/python3; returns stdout+stderr, sets *exit_code.
std::string runPython(const test::TempDir& dir, const std::string& script, const std::vector<std::string>& args,
                      int* exit_code) {
    const std::string script_path = dir.file("check.py");
    test::writeFileBytes(script_path, script);
    std::string command = std::string(kPython) + " " + script_path;
    for (const std::string& arg : args) command += " '" + arg + "'";  // test paths hold no quotes
    command += " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        *exit_code = -1;
        return "popen failed";
    }
    std::string out;
    char buffer[4096];
    for (size_t got; (got = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) out.append(buffer, got);
    const int status = ::pclose(pipe);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

bool hasNumpy() {
    const std::string command = std::string(kPython) + " -c 'import numpy' >/dev/null 2>&1";
    return std::system(command.c_str()) == 0;
}

// One JSON object per .npy file given: shape, dtype string, raw bytes (hex) and values.
constexpr const char* kNpyScript = R"py(
import json, sys
import numpy
for path in sys.argv[1:]:
    a = numpy.load(path, allow_pickle=False)
    values = [None if v != v else v for v in a.ravel().tolist()]
    print(json.dumps({"file": path, "shape": list(a.shape), "dtype": a.dtype.str, "hex": a.tobytes().hex(),
                      "c_order": bool(a.flags.c_contiguous), "values": values}))
)py";

std::vector<Json> loadWithNumpy(const test::TempDir& dir, const std::vector<std::string>& files) {
    int exit_code = 0;
    const std::string out = runPython(dir, kNpyScript, files, &exit_code);
    EXPECT_EQ(exit_code, 0) << out;
    std::vector<Json> results;
    size_t start = 0;
    for (size_t end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
        results.push_back(Json::parse(out.substr(start, end - start)));
    }
    EXPECT_EQ(results.size(), files.size()) << out;
    return results;
}

std::string hex(const std::vector<uint8_t>& bytes) {
    static const char kDigits[] = "0123456789abcdef";
    std::string out;
    for (uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

template <class T>
std::vector<uint8_t> bytesOf(const std::vector<T>& values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(T));
    if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
}

TEST(SessionExport, NpyHeaderLayout) {
    for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{}, {5}, {2, 3}, {1, 2, 3, 4, 5, 6}}) {
        const std::string header = npyHeader("<f4", shape);
        EXPECT_EQ(header.size() % 64, 0u);
        EXPECT_EQ(header.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
        const size_t dict_bytes = static_cast<uint8_t>(header[8]) | (static_cast<uint8_t>(header[9]) << 8);
        EXPECT_EQ(dict_bytes + 10, header.size());
        EXPECT_EQ(header.back(), '\n');
    }
    EXPECT_NE(npyHeader("<f4", {}).find("'shape': ()"), std::string::npos);
    EXPECT_NE(npyHeader("<f4", {5}).find("'shape': (5,)"), std::string::npos);
    EXPECT_NE(npyHeader("<i8", {2, 3}).find("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }"),
              std::string::npos);
    EXPECT_FALSE(npyDescr("json").isOk());
    EXPECT_EQ(*npyDescr("F16"), "<f2");
    EXPECT_EQ(*npyDescr("BOOL"), "|b1");
}

TEST(SessionExport, NpyFilesLoadInNumpy) {
    if (!hasNumpy()) GTEST_SKIP() << kPython << " cannot import numpy (install python3-numpy)";
    test::TempDir dir;
    struct Case {
        std::string name;
        std::string dtype;
        std::vector<int64_t> shape;
        std::vector<uint8_t> bytes;
        std::string numpy_dtype;
        Json values;
    };
    std::vector<Case> cases;
    cases.push_back({"f32",
                     "F32",
                     {2, 3},
                     bytesOf<float>({1.5f, -2.f, 0.f, 3.25f, 1e-3f, 1e30f}),
                     "<f4",
                     Json::array({1.5, -2.0, 0.0, 3.25, static_cast<double>(1e-3f), static_cast<double>(1e30f)})});
    cases.push_back({"f16",
                     "F16",
                     {4},
                     bytesOf<uint16_t>({0x3C00, 0xC000, 0x3800, 0x7BFF}),
                     "<f2",
                     Json::array({1.0, -2.0, 0.5, 65504.0})});
    cases.push_back(
        {"i32", "I32", {3, 1}, bytesOf<int32_t>({-7, 0, 2147483647}), "<i4", Json::array({-7, 0, 2147483647})});
    cases.push_back(
        {"i64", "I64", {2}, bytesOf<int64_t>({-5000000000LL, 42}), "<i8", Json::array({-5000000000LL, 42})});
    cases.push_back({"u8", "U8", {2, 2, 1}, {0, 1, 128, 255}, "|u1", Json::array({0, 1, 128, 255})});
    cases.push_back({"b1", "BOOL", {3}, {1, 0, 1}, "|b1", Json::array({true, false, true})});
    cases.push_back({"i8", "I8", {2}, {0xFF, 0x7F}, "|i1", Json::array({-1, 127})});
    cases.push_back({"f64", "F64", {}, bytesOf<double>({0.1}), "<f8", Json::array({0.1})});
    cases.push_back({"empty", "F32", {0, 3}, {}, "<f4", Json::array()});
    cases.push_back({"bf16", "BF16", {2}, bytesOf<uint16_t>({0x3F80, 0xC060}), "<f4", Json::array({1.0, -3.5})});
    std::vector<std::string> files;
    for (const Case& c : cases) {
        files.push_back(dir.file(c.name + ".npy"));
        Status written = writeNpy(files.back(), c.dtype, c.shape, c.bytes.data(), c.bytes.size());
        ASSERT_TRUE(written.isOk()) << written.error();
    }
    EXPECT_FALSE(writeNpy(dir.file("bad.npy"), "F32", {3}, nullptr, 4).isOk());
    EXPECT_FALSE(test::pathExists(dir.file("bad.npy")));
    const std::vector<Json> loaded = loadWithNumpy(dir, files);
    ASSERT_EQ(loaded.size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(cases[i].name);
        EXPECT_EQ(loaded[i]["shape"].get<std::vector<int64_t>>(), cases[i].shape);
        EXPECT_EQ(loaded[i]["dtype"], cases[i].numpy_dtype);
        EXPECT_TRUE(loaded[i]["c_order"].get<bool>());
        EXPECT_EQ(loaded[i]["values"], cases[i].values);
        if (cases[i].dtype != "BF16") {
            EXPECT_EQ(loaded[i]["hex"], hex(cases[i].bytes));
        }
    }
}

SessionStore makeExportSession(const test::TempDir& dir, std::vector<int64_t>* ids, std::vector<RunRecord>* runs) {
    Result<SessionStore> store = SessionStore::create(dir.file("lab notebook.session"));
    EXPECT_TRUE(store.isOk()) << store.error();
    for (int seq = 0; seq < 4; ++seq) {
        RunRecord run = test::makeTestRun(31, seq, 512);
        if (seq == 0) {
            run.metrics = {{"ttft_ms", 12.5}, {"a,b \"quoted\"", 0.1}, {"id", 7.0}, {"nan", std::nan("")}};
            run.strategy = "snapkv:budget=1024,window=32";
            run.blobs.push_back({"attn/l0 h3", "F32", {2, 2}, bytesOf<float>({0.25f, 0.75f, 1.f, 0.f})});
            run.blobs.push_back({"attn_l0_h3", "U8", {2}, {1, 2}});
            run.blobs.push_back({"trace", "json", {2}, {'{', '}'}});
        }
        ids->push_back(*store->saveRun(run));
        runs->push_back(run);
    }
    return std::move(store.value());
}

TEST(SessionExport, JsonLinesAndCsvReadByPython) {
    test::TempDir dir;
    std::vector<int64_t> ids;
    std::vector<RunRecord> runs;
    SessionStore store = makeExportSession(dir, &ids, &runs);
    const std::string out_dir = dir.file("out");

    Result<ExportReport> jsonl = exportSession(store, {{}, ExportFormat::Jsonl, out_dir, true});
    ASSERT_TRUE(jsonl.isOk()) << jsonl.error();
    ASSERT_EQ(jsonl->files.size(), 1u);
    EXPECT_EQ(jsonl->files[0].path, out_dir + "/lab_notebook.jsonl");
    Result<ExportReport> csv = exportSession(store, {{}, ExportFormat::Csv, out_dir, true});
    ASSERT_TRUE(csv.isOk()) << csv.error();
    EXPECT_EQ(csv->files[0].path, out_dir + "/lab_notebook.csv");
    Result<ExportReport> single = exportSession(store, {{ids[2]}, ExportFormat::Jsonl, out_dir, true});
    ASSERT_TRUE(single.isOk()) << single.error();
    EXPECT_EQ(single->files[0].path, out_dir + "/run-" + std::to_string(ids[2]) + ".jsonl");
    EXPECT_EQ(store.listArtifacts()->size(), 3u);
    EXPECT_EQ(store.listArtifacts(ids[2])->size(), 1u);

    // Our own reading of the JSON Lines.
    std::ifstream in(jsonl->files[0].path);
    std::string line;
    size_t count = 0;
    while (std::getline(in, line)) {
        const Json run = Json::parse(line);
        ASSERT_LT(count, runs.size());
        EXPECT_EQ(run["id"], ids[count]);
        EXPECT_EQ(run["strategy"], runs[count].strategy);
        EXPECT_EQ(run["spec"], Json::parse(runs[count].spec_json));
        EXPECT_EQ(run["output_text"], runs[count].output_text);
        EXPECT_EQ(run["started"], isoUtcFromUnixMs(runs[count].started_unix_ms));
        EXPECT_EQ(run["metrics"].size(), runs[count].metrics.size());
        ++count;
    }
    EXPECT_EQ(count, runs.size());

    if (!hasNumpy()) GTEST_SKIP() << kPython << " is missing; the Python cross-check is skipped";
    constexpr const char* kScript = R"py(
import csv, json, math, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
rows = list(csv.reader(open(sys.argv[2], newline="", encoding="utf-8")))
out = {"ids": [l["id"] for l in lines], "first_metrics": lines[0]["metrics"], "header": rows[0],
       "rows": len(rows) - 1, "strategy": rows[1][rows[0].index("strategy")],
       "quoted": float(rows[1][rows[0].index('a,b "quoted"')]), "metric_id": float(rows[1][rows[0].index("metric:id")]),
       "nan_is_nan": math.isnan(float(rows[1][rows[0].index("nan")]))}
print(json.dumps(out))
)py";
    int exit_code = 0;
    const std::string out = runPython(dir, kScript, {jsonl->files[0].path, csv->files[0].path}, &exit_code);
    ASSERT_EQ(exit_code, 0) << out;
    const Json result = Json::parse(out);
    EXPECT_EQ(result["ids"].get<std::vector<int64_t>>(), ids);
    EXPECT_EQ(result["first_metrics"]["ttft_ms"], 12.5);
    EXPECT_TRUE(result["first_metrics"]["nan"].is_null());
    EXPECT_EQ(result["rows"], 4);
    EXPECT_EQ(result["strategy"], "snapkv:budget=1024,window=32");
    EXPECT_EQ(result["quoted"], 0.1);
    EXPECT_EQ(result["metric_id"], 7.0);
    EXPECT_TRUE(result["nan_is_nan"].get<bool>());
    const std::vector<std::string> header = result["header"];
    EXPECT_EQ(std::vector<std::string>(header.begin(), header.begin() + 8),
              (std::vector<std::string>{"id", "name", "status", "strategy", "model", "device", "started", "ended"}));
}

TEST(SessionExport, NpyExportOfARun) {
    if (!hasNumpy()) GTEST_SKIP() << kPython << " cannot import numpy (install python3-numpy)";
    test::TempDir dir;
    std::vector<int64_t> ids;
    std::vector<RunRecord> runs;
    SessionStore store = makeExportSession(dir, &ids, &runs);
    const std::string out_dir = dir.file("arrays");
    Result<ExportReport> report = exportSession(store, {{ids[0]}, ExportFormat::Npy, out_dir, true});
    ASSERT_TRUE(report.isOk()) << report.error();
    const std::string prefix = out_dir + "/run-" + std::to_string(ids[0]) + "-";
    std::vector<std::string> files;
    for (const ExportedFile& file : report->files) files.push_back(file.path);
    std::vector<std::string> expected;
    const RunRecord& run = runs[0];
    if (!run.prompt_ids.empty()) expected.push_back(prefix + "prompt_ids.npy");
    if (!run.output_ids.empty()) expected.push_back(prefix + "output_ids.npy");
    for (const BlobRecord& blob : run.blobs) {
        if (blob.dtype == "json") continue;
        if (blob.name == "attn/l0 h3") {
            expected.push_back(prefix + "attn_l0_h3.npy");
        } else if (blob.name == "attn_l0_h3") {
            expected.push_back(prefix + "attn_l0_h3-2.npy");  // clashes with the sanitised name above
        } else {
            expected.push_back(prefix + blob.name + ".npy");
        }
    }
    EXPECT_EQ(files, expected);
    ASSERT_FALSE(report->notes.empty());
    EXPECT_NE(report->notes.back().find("'trace'"), std::string::npos) << report->notes.back();
    EXPECT_EQ(store.listArtifacts(ids[0])->size(), files.size());

    const std::vector<Json> loaded = loadWithNumpy(dir, files);
    ASSERT_EQ(loaded.size(), files.size());
    size_t next = 0;
    if (!run.prompt_ids.empty()) {
        EXPECT_EQ(loaded[next]["dtype"], "<i4");
        EXPECT_EQ(loaded[next++]["values"].get<std::vector<int32_t>>(), run.prompt_ids);
    }
    if (!run.output_ids.empty()) {
        EXPECT_EQ(loaded[next++]["values"].get<std::vector<int32_t>>(), run.output_ids);
    }
    for (const BlobRecord& blob : run.blobs) {
        if (blob.dtype == "json") continue;
        SCOPED_TRACE(blob.name);
        EXPECT_EQ(loaded[next]["shape"].get<std::vector<int64_t>>(), blob.shape);
        EXPECT_EQ(loaded[next]["dtype"], *npyDescr(blob.dtype));
        EXPECT_EQ(loaded[next]["hex"], hex(blob.bytes));
        ++next;
    }

    // Whole-session npy export: one set of files per run.
    Result<ExportReport> all = exportSession(store, {{}, ExportFormat::Npy, dir.file("all"), false});
    ASSERT_TRUE(all.isOk()) << all.error();
    std::set<int64_t> exported_runs;
    for (const ExportedFile& file : all->files) exported_runs.insert(file.run_id);
    EXPECT_EQ(exported_runs.size(), ids.size());
}

TEST(SessionExport, RunSummariesJson) {
    test::TempDir dir;
    std::vector<int64_t> ids;
    std::vector<RunRecord> runs;
    SessionStore store = makeExportSession(dir, &ids, &runs);
    Result<std::vector<RunSummary>> summaries = store.listRuns();
    ASSERT_TRUE(summaries.isOk()) << summaries.error();
    const Json listed = Json::parse(runSummariesJson(*summaries));
    ASSERT_EQ(listed.size(), ids.size());
    EXPECT_EQ(listed[0]["id"], ids[0]);
    EXPECT_EQ(listed[0]["strategy"], "snapkv:budget=1024,window=32");
    EXPECT_EQ(listed[0]["metrics"]["ttft_ms"], 12.5);
    EXPECT_TRUE(listed[0]["metrics"]["nan"].is_null());
    EXPECT_EQ(listed[0]["blob_count"], runs[0].blobs.size());
}

TEST(SessionExport, ErrorsAreReported) {
    test::TempDir dir;
    std::vector<int64_t> ids;
    std::vector<RunRecord> runs;
    SessionStore store = makeExportSession(dir, &ids, &runs);
    EXPECT_FALSE(parseExportFormat("xlsx").isOk());
    EXPECT_EQ(*parseExportFormat("csv"), ExportFormat::Csv);
    Result<ExportReport> missing = exportSession(store, {{9999}, ExportFormat::Jsonl, dir.file("o"), true});
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.error().find("9999"), std::string::npos);
    test::writeFileBytes(dir.file("file"), "x");
    Result<ExportReport> bad_dir = exportSession(store, {{}, ExportFormat::Csv, dir.file("file") + "/sub", true});
    ASSERT_FALSE(bad_dir.isOk());
    EXPECT_NE(bad_dir.error().find("cannot create the folder"), std::string::npos) << bad_dir.error();
    EXPECT_EQ(csvField("plain"), "plain");
    EXPECT_EQ(csvField("a,b"), "\"a,b\"");
    EXPECT_EQ(csvField("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(csvField("two\nlines"), "\"two\nlines\"");
}

}  // namespace
}  // namespace attnlab
