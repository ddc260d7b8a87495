// Layout JSON, style noise and the scene editor (issue 10; core/vision/scene/scene_edit.h).
#include <gtest/gtest.h>

#include <string>

#include "core/vision/scene/scene_edit.h"

using namespace attnlab;
using namespace attnlab::scene;

TEST(SceneLayoutJson, RoundTripsAndAcceptsNamesIndicesAndUV) {
    const std::string text =
        R"({"objects": [{"shape": "cube", "colour": "red", "size": "large", "material": "metal", "qx": 3, "qy": 30},
                        {"shape": 3, "color": 7, "u": 0.5, "v": 0.0}]})";
    auto r = layoutFromJson(text, "a.json");
    ASSERT_TRUE(r.isOk()) << r.error();
    ASSERT_EQ(r.value().size(), 2u);
    EXPECT_EQ(r.value()[0].shape, 1);
    EXPECT_EQ(r.value()[0].colour, 1);
    EXPECT_EQ(r.value()[0].material, 1);
    EXPECT_EQ(r.value()[1].colour, 7);
    EXPECT_EQ(r.value()[1].qx, 16);
    EXPECT_EQ(r.value()[1].qy, 0);
    auto back = layoutFromJson(layoutToJson(r.value()), "b.json");
    ASSERT_TRUE(back.isOk());
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(back.value()[i].qx, r.value()[i].qx);
        EXPECT_EQ(back.value()[i].shape, r.value()[i].shape);
    }
}

TEST(SceneLayoutJson, BadInputNamesFileObjectAndField) {
    struct Case {
        const char* text;
        const char* expect;
    } cases[] = {{"{", "not valid JSON"},
                 {R"({"things": []})", "no \"objects\""},
                 {R"({"objects": [{"shape": "blob", "qx": 1, "qy": 1}]})", "object 0: bad shape"},
                 {R"({"objects": [{"qx": 1, "qy": 1}, {"qx": 40, "qy": 1}]})", "object 1: qx must be"},
                 {R"({"objects": [{"qx": 1}]})", "needs qy"},
                 {R"({"objects": [{"qx":1,"qy":1},{"qx":1,"qy":1},{"qx":1,"qy":1},{"qx":1,"qy":1},{"qx":1,"qy":1},
                                  {"qx":1,"qy":1},{"qx":1,"qy":1},{"qx":1,"qy":1},{"qx":1,"qy":1}]})", "at most 8"}};
    for (const Case& c : cases) {
        auto r = layoutFromJson(c.text, "layout.json");
        ASSERT_FALSE(r.isOk()) << c.text;
        EXPECT_NE(r.error().find("layout.json"), std::string::npos) << r.error();
        EXPECT_NE(r.error().find(c.expect), std::string::npos) << r.error();
    }
}

TEST(SceneEditor, EditsAndRasterWithoutAModel) {
    SceneEditor e(nullptr);
    e.setTokens({Token{0, 1, 1, 0, 10, 20}, Token{1, 2, 0, 1, 20, 5}});
    SceneFrame f = e.render(false, -1, false);
    ASSERT_EQ(f.tokens.size(), 2u);
    EXPECT_EQ(f.tokens[0].qy, 5) << "back to front";
    EXPECT_EQ(f.source_index[0], 1);
    EXPECT_EQ(f.source_index[1], 0);
    EXPECT_TRUE(e.move(0, 3, 2));
    EXPECT_FALSE(e.move(5, 3, 2));
    EXPECT_TRUE(e.recolour(1, 6));
    EXPECT_FALSE(e.recolour(1, 8));
    f = e.render(false, -1, false);
    EXPECT_EQ(f.source_index[0], 0) << "the moved object is now the farthest";
    EXPECT_EQ(e.render(false, 1, false).tokens.size(), 1u);
    EXPECT_TRUE(e.remove(0));
    EXPECT_EQ(e.tokens().size(), 1u);
    EXPECT_THROW(e.render(true), Error) << "rendering needs a model";
}

TEST(SceneEditor, StyleNoiseIsDeterministicAndZeroForSeedZero) {
    const auto a = styleNoise(5, 16), b = styleNoise(5, 16), z = styleNoise(0, 16);
    ASSERT_EQ(a.size(), size_t(9 * 16));
    EXPECT_EQ(a, b);
    double sum = 0, sq = 0;
    for (float v : a) sum += v, sq += double(v) * v;
    EXPECT_LT(std::abs(sum / a.size()), 0.3);
    EXPECT_NEAR(sq / a.size(), 1.0, 0.35);
    for (float v : z) EXPECT_EQ(v, 0.f);
}
