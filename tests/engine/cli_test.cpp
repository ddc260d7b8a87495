// attnlab-cli end to end: JSON contract of generate/tokenize, and clear errors on bad input.
#include <gtest/gtest.h>

#include <execinfo.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/engine/test_util.h"

using attnlab::test::parityDir;
using attnlab::test::readFile;
using attnlab::test::TempDir;
using attnlab::test::CliRun;
using attnlab::test::lineCount;
using attnlab::test::runCli;

namespace {

// This process once died by SIGSEGV in these tests on the GPU machine only (CUDA build), without a
// trace: print the fault address, the faulting instruction and the return address on top of the
// stack (the caller, when a null function pointer was called), then the stack (symbols through
// -rdynamic), before dying the same way.
void printStackAndDie(int sig, siginfo_t* info, void* context) {
    char line[256];
    const auto* uc = static_cast<const ucontext_t*>(context);
    const auto pc = static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RIP]);
    const auto sp = static_cast<unsigned long long>(uc->uc_mcontext.gregs[REG_RSP]);
    const unsigned long long ret = sp ? *reinterpret_cast<const unsigned long long*>(sp) : 0;
    const int len = std::snprintf(line, sizeof line, "signal %d: fault address %p, pc 0x%llx, [sp] 0x%llx\n", sig,
                                  info->si_addr, pc, ret);
    if (len > 0) (void)!write(STDERR_FILENO, line, static_cast<size_t>(len));
    void* frames[64];
    const int n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    void* where[2] = {reinterpret_cast<void*>(pc), reinterpret_cast<void*>(ret)};
    backtrace_symbols_fd(where, 2, STDERR_FILENO);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}
const bool kStackOnCrash = [] {
    struct sigaction action {};
    action.sa_sigaction = printStackAndDie;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &action, nullptr);
    return true;
}();

TEST(CliTest, GenerateJsonHasTheDocumentedFields) {
    const std::string dir = parityDir() + "/llama3";
    auto golden = attnlab::test::readJson(dir + "/golden.json");
    const auto& prompt = golden.at("prompts").at(0);
    CliRun r = runCli({"generate", "--model", dir, "--prompt", prompt.at("text").get<std::string>(),
                       "--max-new-tokens", "8", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("prompt_ids"), prompt.at("ids"));
    auto expected = prompt.at("greedy_new_ids").get<std::vector<int>>();
    auto got = j.at("output_ids").get<std::vector<int>>();
    ASSERT_LE(got.size(), 8u);
    ASSERT_GE(got.size(), 1u);
    EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin()));  // greedy, maybe stopped at EOS
    EXPECT_TRUE(j.at("output_text").is_string());
    EXPECT_TRUE(j.at("timings").at("prefill_ms").is_number());
    EXPECT_TRUE(j.at("timings").at("decode_ms_per_token").is_number());
    // Exact reservation: layers x 2 (K, V) x kv_heads x (prompt + new - 1 entries) x head_dim x 4 bytes.
    EXPECT_GT(j.at("kv_bytes").get<long>(), 0);
    auto m = j.at("model");
    long bound = m.at("layers").get<long>() * 2 * m.at("kv_heads").get<long>() *
                 (long(prompt.at("ids").size()) + 7) * m.at("head_dim").get<long>() * 4;
    EXPECT_EQ(j.at("kv_bytes").get<long>(), bound);
}

TEST(CliTest, SamplingIsReproducibleWithASeed) {
    const std::string dir = parityDir() + "/qwen2";
    std::vector<std::string> args{"generate", "--model", dir, "--prompt", "Hello there", "--max-new-tokens", "10",
                                  "--temperature", "0.9", "--top-p", "0.9", "--seed", "11", "--json"};
    CliRun a = runCli(args), b = runCli(args);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(nlohmann::json::parse(a.out).at("output_ids"), nlohmann::json::parse(b.out).at("output_ids"));
}

TEST(CliTest, TokenizeJsonMatchesGoldenIds) {
    const std::string dir = parityDir() + "/gpt2";
    auto golden = attnlab::test::readJson(dir + "/golden.json");
    const auto& item = golden.at("tokenize").at(0);
    CliRun r = runCli({"tokenize", "--model", dir, "--text", item.at("text").get<std::string>(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).at("ids"), item.at("ids_with_special"));
}

TEST(CliTest, BadInputGivesOneClearLineAndNonZeroExit) {
    TempDir tmp;
    {
        CliRun r = runCli({"generate", "--model", tmp.path() + "/nowhere", "--prompt", "x"});
        EXPECT_NE(r.exit_code, 0);
        EXPECT_EQ(lineCount(r.err), 1) << r.err;
        EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
    }
    {
        CliRun r = runCli({"generate", "--model", parityDir() + "/gpt2", "--bogus"});
        EXPECT_NE(r.exit_code, 0);
        EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
    }
    {
        CliRun r = runCli({"generate", "--model", parityDir() + "/gpt2", "--prompt", "x", "--max-new-tokens", "ten"});
        EXPECT_NE(r.exit_code, 0);
        EXPECT_NE(r.err.find("integer"), std::string::npos) << r.err;
    }
    {
        // A pickle-only directory is refused without being opened.
        std::filesystem::copy_file(parityDir() + "/gpt2/config.json", tmp.path() + "/config.json");
        std::filesystem::copy_file(parityDir() + "/gpt2/tokenizer.json", tmp.path() + "/tokenizer.json");
        std::ofstream(tmp.path() + "/pytorch_model.bin") << "not really a pickle";
        CliRun r = runCli({"generate", "--model", tmp.path(), "--prompt", "x"});
        EXPECT_NE(r.exit_code, 0);
        EXPECT_EQ(lineCount(r.err), 1) << r.err;
        EXPECT_NE(r.err.find("safetensors"), std::string::npos) << r.err;
    }
    {
        // GPT-2 fixture context is 1024 tokens: a longer prompt is refused, naming both numbers.
        std::string long_prompt;
        for (int i = 0; i < 1500; ++i) long_prompt += " hello 123";
        CliRun r = runCli({"generate", "--model", parityDir() + "/gpt2", "--prompt", long_prompt});
        EXPECT_NE(r.exit_code, 0);
        EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
    }
    {
        CliRun r = runCli({"generate", "--model", parityDir() + "/gpt2", "--prompt", "x", "--device", "cuda:0"});
        // CPU builds say there is no CUDA; CUDA builds run.
        if (r.exit_code != 0) EXPECT_NE(r.err.find("CUDA"), std::string::npos) << r.err;
    }
}

}  // namespace
