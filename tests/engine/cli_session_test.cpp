// attnlab-cli with sessions: `run/generate --session` save every run, `sessions` lists them, `export`
// writes JSON Lines / CSV / .npy, and a session that cannot be written still gets the results printed.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/engine/test_util.h"

using attnlab::test::parityDir;
using attnlab::test::readFile;
using attnlab::test::TempDir;
using attnlab::test::CliRun;
using attnlab::test::lineCount;
using attnlab::test::runCli;
using Json = nlohmann::json;

namespace {

std::vector<std::string> splitLines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) lines.push_back(line);
    return lines;
}

const std::vector<std::string> kSpecs{"streaming:budget=8", "snapkv:budget=8,window=4"};

// `run` of the two strategies on the tiny llama3 fixture, saved to `session`, with --json output.
CliRun runTwoStrategies(const std::string& session) {
    std::vector<std::string> args{"run", "--model", parityDir() + "/llama3", "--prompt",
                                  "Attention lets every token look back at the tokens before it.",
                                  "--max-new-tokens", "4", "--json", "--session", session};
    for (const auto& spec : kSpecs) {
        args.push_back("--strategy");
        args.push_back(spec);
    }
    return runCli(args);
}

std::vector<int64_t> savedIds(const CliRun& r) {
    return Json::parse(r.out).at("session").at("run_ids").get<std::vector<int64_t>>();
}

TEST(CliSessionTest, RunSavesEveryStrategyAndSessionsListsThem) {
    TempDir tmp;
    const std::string session = tmp.path() + "/lab.atl";
    CliRun r = runTwoStrategies(session);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json out = Json::parse(r.out);
    ASSERT_EQ(out.at("runs").size(), 2u);
    ASSERT_EQ(savedIds(r).size(), 2u);

    CliRun listed = runCli({"sessions", session, "--json"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    Json runs = Json::parse(listed.out);
    ASSERT_EQ(runs.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        const Json& printed = out.at("runs").at(i);
        EXPECT_EQ(runs[i].at("id").get<int64_t>(), savedIds(r)[i]);
        EXPECT_EQ(runs[i].at("strategy"), printed.at("strategy"));
        EXPECT_EQ(runs[i].at("status"), "done");
        EXPECT_EQ(runs[i].at("model").at("architecture"), "LlamaForCausalLM");
        EXPECT_FALSE(runs[i].at("model").at("content_hash").get<std::string>().empty());
        EXPECT_NEAR(runs[i].at("metrics").at("kl_vs_full").get<double>(),
                    printed.at("metrics").at("kl_vs_full").get<double>(), 1e-12);
        // One kept-positions array per layer and KV head (2 x 2 in the fixture).
        EXPECT_EQ(runs[i].at("blob_count").get<int64_t>(), 4);
    }
    EXPECT_EQ(runs[0].at("strategy").get<std::string>().rfind("streaming:", 0), 0u);
    EXPECT_EQ(runs[1].at("strategy").get<std::string>().rfind("snapkv:", 0), 0u);

    CliRun table = runCli({"sessions", session});
    ASSERT_EQ(table.exit_code, 0) << table.err;
    EXPECT_EQ(lineCount(table.out), 3) << table.out;  // header + 2 runs
    EXPECT_NE(table.out.find(runs[1].at("strategy").get<std::string>()), std::string::npos) << table.out;
}

TEST(CliSessionTest, GenerateSavesItsRunAsFull) {
    TempDir tmp;
    const std::string session = tmp.path() + "/lab.atl";
    CliRun r = runCli({"generate", "--model", parityDir() + "/llama3", "--prompt", "Attention is all you need.",
                       "--max-new-tokens", "4", "--session", session});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    CliRun listed = runCli({"sessions", session, "--json"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    Json runs = Json::parse(listed.out);
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].at("strategy"), "full");
    EXPECT_TRUE(runs[0].at("metrics").contains("prefill_ms"));
}

TEST(CliSessionTest, RunningAgainAppendsWithIncreasingIds) {
    TempDir tmp;
    const std::string session = tmp.path() + "/lab.atl";
    CliRun first = runTwoStrategies(session);
    ASSERT_EQ(first.exit_code, 0) << first.err;
    CliRun second = runTwoStrategies(session);
    ASSERT_EQ(second.exit_code, 0) << second.err;
    auto a = savedIds(first), b = savedIds(second);
    ASSERT_EQ(a.size(), 2u);
    ASSERT_EQ(b.size(), 2u);
    EXPECT_LT(a[0], a[1]);
    EXPECT_LT(a[1], b[0]);
    EXPECT_LT(b[0], b[1]);
    CliRun listed = runCli({"sessions", session, "--json"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_EQ(Json::parse(listed.out).size(), 4u);
}

TEST(CliSessionTest, ExportJsonlHasOneParsableLinePerRunWithMetrics) {
    TempDir tmp;
    const std::string session = tmp.path() + "/lab.atl";
    CliRun r = runTwoStrategies(session);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    CliRun e = runCli({"export", "--session", session, "--format", "jsonl", "--out", tmp.path() + "/out"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    auto files = splitLines(e.out);
    ASSERT_EQ(files.size(), 1u) << e.out;
    ASSERT_TRUE(std::filesystem::exists(files[0])) << files[0];
    auto lines = splitLines(readFile(files[0]));
    ASSERT_EQ(lines.size(), 2u);
    Json printed = Json::parse(r.out).at("runs");
    for (size_t i = 0; i < lines.size(); ++i) {
        Json line = Json::parse(lines[i]);
        EXPECT_EQ(line.at("strategy"), printed[i].at("strategy"));
        for (const char* metric : {"kl_vs_full", "top1_vs_full", "kv_bytes"})
            EXPECT_NEAR(line.at("metrics").at(metric).get<double>(), printed[i].at("metrics").at(metric).get<double>(),
                        1e-12)
                << metric;
    }
}

TEST(CliSessionTest, ExportNpyOfOneRunWritesNumpyArrays) {
    TempDir tmp;
    const std::string session = tmp.path() + "/lab.atl";
    CliRun r = runTwoStrategies(session);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const int64_t id = savedIds(r).at(1);
    CliRun e = runCli({"export", "--session", session, "--run", std::to_string(id), "--format", "npy", "--out",
                       tmp.path() + "/npy"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    auto files = splitLines(e.out);
    ASSERT_FALSE(files.empty());
    bool saw_kept = false;
    for (const auto& path : files) {
        const std::string name = std::filesystem::path(path).filename().string();
        EXPECT_EQ(name.rfind("run-" + std::to_string(id) + "-", 0), 0u) << name;
        const std::string bytes = readFile(path);
        ASSERT_GE(bytes.size(), 10u) << path;
        EXPECT_EQ(bytes.substr(0, 6), std::string("\x93NUMPY")) << path;
        const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
        EXPECT_EQ((10 + header_len) % 64, 0u) << path;  // data starts aligned
        const std::string header = bytes.substr(10, header_len);
        if (name.find("kept_l0_h0") != std::string::npos) {
            saw_kept = true;
            const auto kept =
                Json::parse(r.out).at("runs").at(1).at("trace").at("decisions").at(0).at("kept_positions");
            EXPECT_NE(header.find("'descr': '<i8'"), std::string::npos) << header;
            EXPECT_NE(header.find("'shape': (" + std::to_string(kept.size()) + ",)"), std::string::npos) << header;
            ASSERT_EQ(bytes.size(), 10 + header_len + kept.size() * 8);
            int64_t first = 0;
            std::memcpy(&first, bytes.data() + 10 + header_len, 8);
            EXPECT_EQ(first, kept.at(0).get<int64_t>());
        }
    }
    EXPECT_TRUE(saw_kept) << e.out;
}

TEST(CliSessionTest, DamagedSessionStillPrintsResultsAndIsNotTouched) {
    TempDir tmp;
    const std::string session = tmp.path() + "/damaged.atl";
    std::string garbage;
    for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) & 0xff));
    std::ofstream(session, std::ios::binary) << garbage;

    CliRun r = runTwoStrategies(session);
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("not saved"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(session), std::string::npos) << r.err;
    Json out = Json::parse(r.out);  // the results were printed all the same
    EXPECT_EQ(out.at("runs").size(), 2u);
    EXPECT_TRUE(out.at("session").at("run_ids").empty());
    EXPECT_EQ(readFile(session), garbage);
    for (const char* suffix : {"-wal", "-shm", "-journal"})
        EXPECT_FALSE(std::filesystem::exists(session + suffix)) << suffix;

    CliRun listed = runCli({"sessions", session, "--json"});
    EXPECT_NE(listed.exit_code, 0);
    EXPECT_EQ(lineCount(listed.err), 1) << listed.err;
    EXPECT_EQ(readFile(session), garbage);
}

TEST(CliSessionTest, BadExportArgumentsGiveOneClearLine) {
    TempDir tmp;
    const std::string session = tmp.path() + "/lab.atl";
    CliRun r = runTwoStrategies(session);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    {
        CliRun e = runCli({"export", "--session", session, "--format", "xls", "--out", tmp.path() + "/x"});
        EXPECT_EQ(e.exit_code, 2);
        EXPECT_EQ(lineCount(e.err), 1) << e.err;
        EXPECT_NE(e.err.find("xls"), std::string::npos) << e.err;
    }
    {
        CliRun e = runCli({"export", "--session", session, "--run", "999", "--format", "csv", "--out", tmp.path() + "/x"});
        EXPECT_NE(e.exit_code, 0);
        EXPECT_EQ(lineCount(e.err), 1) << e.err;
    }
    {
        CliRun e = runCli({"sessions", tmp.path() + "/missing.atl"});
        EXPECT_NE(e.exit_code, 0);
        EXPECT_EQ(lineCount(e.err), 1) << e.err;
        EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/missing.atl"));
    }
}

}  // namespace
