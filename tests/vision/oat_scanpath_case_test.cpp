// ScanpathCase (the CLI's and the view's display bundle): the model inputs it builds are the very
// bytes the data tool wrote for training (writeDataset's crops.npy/cue.npy), subjects and baselines
// are the evaluation's, and the scanpath drawing marks the path.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include <opencv2/core.hpp>

#include "core/vision/oat/dataset.h"
#include "core/vision/oat/npy_io.h"
#include "core/vision/oat/scanpath_case.h"
#include "tests/remove_tree.h"

using namespace attnlab::oat;

TEST(OatScanpathCase, ModelInputsMatchTheTrainingData) {
    const std::string dir = (std::filesystem::temp_directory_path() / "attnlab_oat_case_test").string();
    DatasetOptions opt;
    opt.split = Split::Val;
    opt.count = 3;
    opt.subjects = 2;
    std::string error;
    ASSERT_TRUE(writeDataset(dir, opt, &error)) << error;
    std::vector<int64_t> shape, crops, cue, offsets;
    ASSERT_TRUE(readNpyInts(dir + "/crops.npy", &shape, &crops, &error)) << error;
    ASSERT_TRUE(readNpyInts(dir + "/cue.npy", &shape, &cue, &error)) << error;
    ASSERT_TRUE(readNpyInts(dir + "/obj_offsets.npy", &shape, &offsets, &error)) << error;
    for (int d = 0; d < 3; ++d) {
        const Display display = generateDisplay(splitDisplaySpec(Split::Val, d));
        const OatInputs in = modelInputs(display);
        ASSERT_EQ(in.objects, offsets[d + 1] - offsets[d]);
        for (size_t i = 0; i < in.crops.size(); ++i)
            ASSERT_EQ(in.crops[i], crops[offsets[d] * 3072 + static_cast<int64_t>(i)]) << "display " << d << " byte " << i;
        for (size_t i = 0; i < in.cue.size(); ++i) ASSERT_EQ(in.cue[i], cue[d * 3072 + static_cast<int64_t>(i)]);
        for (int k = 0; k < in.objects; ++k)
            EXPECT_EQ(in.cells[k], display.objects[k].cell_row * kGridCols + display.objects[k].cell_col);
    }
    attnlab::test::removeTree(dir);
}

TEST(OatScanpathCase, SubjectsBaselinesAndDrawing) {
    DisplaySpec spec;
    spec.seed = 9;
    spec.set_size = 12;
    const ScanpathCase c = makeScanpathCase(spec, 4);
    ASSERT_EQ(c.subjects.size(), 4u);
    ASSERT_EQ(static_cast<int>(c.baselines.size()), kBaselineCount);
    // Same seeds as the evaluation: subject s on this display is simulateObserver(..., trialSeed(d, s)).
    const auto people = makeSubjects(4);
    EXPECT_EQ(objectString(c.subjects[2]), objectString(simulateObserver(c.display, people[2], trialSeed(c.display, 2))));
    EXPECT_DOUBLE_EQ(meanSequenceScore(objectString(c.subjects[0]), {c.subjects[0]}), 1.0);
    Regime r;
    EXPECT_TRUE(parseRegime("configuration", &r));
    EXPECT_EQ(r, Regime::Configuration);
    EXPECT_FALSE(parseRegime("Feature", &r));
    EXPECT_THROW(makeScanpathCase(DisplaySpec{1, 99}), std::invalid_argument);

    cv::Mat plain, drawn;
    drawScanpaths(c.display, {}, 2, &plain);
    DrawnPath p;
    p.objects = {0, 1};
    p.bgr[0] = 255, p.bgr[1] = 0, p.bgr[2] = 255;
    drawScanpaths(c.display, {p}, 2, &drawn);
    ASSERT_EQ(drawn.cols, 2 * kCanvasWidth);
    ASSERT_EQ(drawn.rows, 2 * kCanvasHeight);
    int magenta = 0;
    for (int y = 0; y < drawn.rows; ++y)
        for (int x = 0; x < drawn.cols; ++x) {
            const cv::Vec3b v = drawn.at<cv::Vec3b>(y, x);
            magenta += v[0] == 255 && v[1] == 0 && v[2] == 255;
        }
    EXPECT_GT(magenta, 200);
    EXPECT_GT(cv::norm(plain, drawn, cv::NORM_L1), 0);
}
