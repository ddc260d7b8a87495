// The data tool end to end at tiny scale: the .npy files it writes, and its errors on bad input.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/vision/oat/npy_io.h"

using namespace attnlab::oat;

namespace {

std::string runTool(const std::string& args, int* rc) {
    const std::string cmd = std::string(ATTNLAB_OAT_DATA_PATH) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (p && fgets(buf, sizeof(buf), p)) out += buf;
    const int status = p ? pclose(p) : -1;
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

std::string tempDir(const char* name) {
    const std::string d = std::string(::testing::TempDir()) + "/" + name;
    std::system(("rm -rf '" + d + "' && mkdir -p '" + d + "'").c_str());
    return d;
}

}  // namespace

TEST(OatDataTool, GenWritesConsistentArrays) {
    const std::string dir = tempDir("oat_gen");
    int rc = 0;
    const std::string out = runTool("gen --split val --count 12 --subjects 3 --out " + dir + "/val", &rc);
    ASSERT_EQ(rc, 0) << out;
    std::vector<int64_t> shape, displays, offsets, paths;
    std::string error;
    ASSERT_TRUE(readNpyInts(dir + "/val/displays.npy", &shape, &displays, &error)) << error;
    ASSERT_EQ(shape, (std::vector<int64_t>{12, 10}));
    ASSERT_TRUE(readNpyInts(dir + "/val/obj_offsets.npy", &shape, &offsets, &error)) << error;
    ASSERT_EQ(shape, (std::vector<int64_t>{13}));
    ASSERT_TRUE(readNpyInts(dir + "/val/paths.npy", &shape, &paths, &error)) << error;
    ASSERT_EQ(shape, (std::vector<int64_t>{12, 3, 32}));
    std::vector<int64_t> crop_shape, crops;
    ASSERT_TRUE(readNpyInts(dir + "/val/crops.npy", &crop_shape, &crops, &error)) << error;
    EXPECT_EQ(crop_shape, (std::vector<int64_t>{offsets.back(), 32, 32, 3}));
    for (int d = 0; d < 12; ++d) {
        const int64_t n = offsets[d + 1] - offsets[d];
        EXPECT_EQ(n, displays[d * 10 + 1]) << "set size column";
        EXPECT_EQ(offsets[d], displays[d * 10 + 9]);
        for (int s = 0; s < 3; ++s) {
            const int64_t* p = &paths[(d * 3 + s) * 32];
            EXPECT_GE(p[0], 0) << "every path has a fixation";
            bool ended = false;
            for (int t = 0; t < 32; ++t) {
                if (p[t] < 0) ended = true;
                else {
                    EXPECT_FALSE(ended) << "no fixation after the end";
                    EXPECT_LT(p[t], n);
                }
            }
        }
    }
    // Deterministic: a second run writes the same bytes.
    ASSERT_EQ(runTool("gen --split val --count 12 --subjects 3 --threads 2 --out " + dir + "/val2", &rc).empty(), false);
    std::ifstream a(dir + "/val/crops.npy", std::ios::binary), b(dir + "/val2/crops.npy", std::ios::binary);
    std::stringstream sa, sb;
    sa << a.rdbuf();
    sb << b.rdbuf();
    EXPECT_TRUE(sa.str() == sb.str());
}

TEST(OatDataTool, EvalScoresPredictionsAndRejectsBadFiles) {
    const std::string dir = tempDir("oat_eval");
    // Predictions [4, 2, 3]: each display's sample 0 = object 0 then stop; sample 1 = objects 1, 0.
    std::vector<int16_t> pred;
    for (int d = 0; d < 4; ++d) {
        const int16_t row[6] = {0, -1, -1, 1, 0, -1};
        pred.insert(pred.end(), row, row + 6);
    }
    std::string error;
    ASSERT_TRUE(writeNpyFile(dir + "/pred.npy", "<i2", {4, 2, 3}, pred.data(), pred.size() * 2, &error)) << error;
    int rc = 0;
    std::string out = runTool("eval --split test_layout --count 4 --subjects 3 --resamples 50 --pred " + dir +
                                  "/pred.npy --name tiny --json " + dir + "/r.json",
                              &rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("| tiny |"), std::string::npos) << out;
    EXPECT_NE(out.find("| nearest-first |"), std::string::npos);
    EXPECT_NE(out.find("leave-one-out ceiling"), std::string::npos);
    std::ifstream j(dir + "/r.json");
    EXPECT_TRUE(j.good());

    out = runTool("eval --split test_layout --count 5 --subjects 3 --pred " + dir + "/pred.npy", &rc);
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("pred.npy: want shape [5"), std::string::npos) << out;
    std::vector<int16_t> bad(4 * 3, 99);
    ASSERT_TRUE(writeNpyFile(dir + "/bad.npy", "<i2", {4, 3}, bad.data(), bad.size() * 2, &error));
    out = runTool("eval --split test_layout --count 4 --subjects 3 --pred " + dir + "/bad.npy", &rc);
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("points at object 99"), std::string::npos) << out;
    std::ofstream(dir + "/junk.npy") << "not numpy";
    out = runTool("eval --split test_layout --count 4 --pred " + dir + "/junk.npy", &rc);
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("junk.npy: not a .npy file"), std::string::npos) << out;
    out = runTool("gen --split nope --count 3 --out " + dir, &rc);
    EXPECT_EQ(rc, 2);
    EXPECT_NE(out.find("--split must be"), std::string::npos);
}
