// Long-context tasks defined by the specs in assets/tasks/ (shared with the demo model's training
// recipe, so training and evaluation agree). Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "core/util/result.h"

namespace attnlab {

struct TaskInstance {
    std::string kind;                       // "passkey", "mqar", "heldout"
    std::string spec;                       // canonical, e.g. "needle:depth=0.5,length=4096,seed=0"
    std::vector<int32_t> prompt_ids;
    std::string answer;                     // correct if the decoded output starts with this
    int64_t max_new_tokens = 8;
    std::map<std::string, double> numbers;  // length, depth, needle_start, needle_end, ...
};

// Finds assets/tasks/ from ATTNLAB_ASSETS, the install prefix (share/attnlab/assets) or the source
// tree above an executable at exe_path.
std::string findTaskFolder(const std::string& exe_path);

// "needle:length=4096,depth=0.5,seed=0" (alias "passkey"), "mqar:pairs=64,queries=8,seed=0" (the
// last query is asked; answer its " {value}") or "heldout:length=512,seed=0,answer_tokens=4" (a window
// of held-out text; answer: the text's next tokens). bos_id < 0: take the spec's BOS token from the
// tokenizer, if it has one.
Result<TaskInstance> makeTask(const std::string& spec_text, const std::string& task_folder, const Tokenizer& tokenizer,
                              int64_t bos_id = -1);

// True if `output_text` answers the task (passkey: starts with " <digits>").
bool isCorrect(const TaskInstance& task, const std::string& output_text);

}  // namespace attnlab
