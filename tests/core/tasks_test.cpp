// Task prompts from assets/tasks/ with the demo model's tokenizer: MQAR and held-out text (the needle
// task is covered by the demo model and CLI tests). Checks read the prompt back as text and parse it
// independently of how it was built.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/tasks/tasks.h"
#include "core/tokenizer/tokenizer.h"

namespace attnlab {
namespace {

const std::string kSource = ATTNLAB_SOURCE_DIR;
const std::string kTasks = kSource + "/assets/tasks";

const Tokenizer& demoTokenizer() {
    static std::unique_ptr<Tokenizer> tokenizer = [] {
        auto t = Tokenizer::fromDirectory(kSource + "/assets/models/attnlab-demo");
        if (!t) throw std::runtime_error(t.error());
        return std::move(*t);
    }();
    return *tokenizer;
}

std::string textAfterBos(const TaskInstance& task) {
    return demoTokenizer().decode(std::vector<int32_t>(task.prompt_ids.begin() + 1, task.prompt_ids.end()), true);
}

TEST(Tasks, MqarPromptAsksOneListedKeyAndAnswersWithItsValue) {
    auto task = makeTask("mqar:pairs=20,queries=5,seed=3", kTasks, demoTokenizer());
    ASSERT_TRUE(task) << task.error();
    EXPECT_EQ(task->kind, "mqar");
    EXPECT_EQ(task->spec, "mqar:pairs=20,queries=5,seed=3");
    EXPECT_EQ(task->prompt_ids.front(), *demoTokenizer().tokenToId("<|begin_of_text|>"));
    const std::string text = textAfterBos(*task);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(text, m, std::regex(R"(Pairs:(.*)\.\nQueries:(.*) ([a-z]{2}))"))) << text;
    // Pairs: 20 distinct two-letter keys with two-digit values.
    std::map<std::string, std::string> pairs;
    const std::string pair_text = m[1];
    std::regex pair_re(R"( ([a-z]{2}) ([0-9]{2}))");
    for (auto it = std::sregex_iterator(pair_text.begin(), pair_text.end(), pair_re); it != std::sregex_iterator(); ++it)
        EXPECT_TRUE(pairs.emplace((*it)[1], (*it)[2]).second) << "key repeated: " << (*it)[1];
    EXPECT_EQ(pairs.size(), 20u);
    // The shown queries carry their true values; the asked key is listed and not asked before.
    const std::string query_text = m[2];
    std::set<std::string> asked;
    int shown = 0;
    for (auto it = std::sregex_iterator(query_text.begin(), query_text.end(), pair_re); it != std::sregex_iterator(); ++it) {
        EXPECT_EQ(pairs.at((*it)[1]), (*it)[2]);
        asked.insert((*it)[1]);
        ++shown;
    }
    EXPECT_EQ(shown, 4);
    const std::string key = m[3];
    ASSERT_EQ(pairs.count(key), 1u);
    EXPECT_EQ(asked.count(key), 0u);
    EXPECT_EQ(task->answer, " " + pairs[key]);
    EXPECT_TRUE(isCorrect(*task, " " + pairs[key] + ", zz"));
    EXPECT_FALSE(isCorrect(*task, " xx"));
    // Seeded: the same spec gives the same prompt, another seed another one.
    auto again = makeTask("mqar:pairs=20,queries=5,seed=3", kTasks, demoTokenizer());
    EXPECT_EQ(again->prompt_ids, task->prompt_ids);
    auto other = makeTask("mqar:pairs=20,queries=5,seed=4", kTasks, demoTokenizer());
    EXPECT_NE(other->prompt_ids, task->prompt_ids);
}

TEST(Tasks, MqarDefaultsAndBadSpecs) {
    auto task = makeTask("mqar", kTasks, demoTokenizer());
    ASSERT_TRUE(task) << task.error();
    EXPECT_EQ(task->spec, "mqar:pairs=64,queries=8,seed=0");
    auto too_many = makeTask("mqar:pairs=4,queries=5", kTasks, demoTokenizer());
    ASSERT_FALSE(too_many);
    EXPECT_NE(too_many.error().find("queries=5"), std::string::npos) << too_many.error();
    auto bad_key = makeTask("mqar:keys=3", kTasks, demoTokenizer());
    ASSERT_FALSE(bad_key);
    EXPECT_NE(bad_key.error().find("keys"), std::string::npos) << bad_key.error();
    auto unknown = makeTask("nosuch:length=3", kTasks, demoTokenizer());
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().find("mqar"), std::string::npos) << unknown.error();
    EXPECT_NE(unknown.error().find("heldout"), std::string::npos) << unknown.error();
    auto missing = makeTask("mqar", kSource + "/no/such/folder", demoTokenizer());
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find("mqar.json"), std::string::npos) << missing.error();
}

TEST(Tasks, HeldoutIsAWindowOfTheHeldOutTextAndItsContinuation) {
    auto task = makeTask("heldout:length=300,seed=7", kTasks, demoTokenizer());
    ASSERT_TRUE(task) << task.error();
    EXPECT_EQ(task->kind, "heldout");
    EXPECT_EQ(task->spec, "heldout:answer_tokens=4,length=300,seed=7");
    EXPECT_EQ(task->prompt_ids.size(), 300u);
    EXPECT_FALSE(task->answer.empty());
    std::ifstream in(kTasks + "/heldout.txt", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string heldout = ss.str();
    // Prompt text followed by the answer is a passage of heldout.txt.
    const std::string passage = textAfterBos(*task) + task->answer;
    EXPECT_NE(heldout.find(passage), std::string::npos) << passage.substr(0, 200);
    auto too_long = makeTask("heldout:length=10000000", kTasks, demoTokenizer());
    ASSERT_FALSE(too_long);
    EXPECT_NE(too_long.error().find("heldout.txt"), std::string::npos) << too_long.error();
}

}  // namespace
}  // namespace attnlab
