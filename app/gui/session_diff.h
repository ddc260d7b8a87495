// Difference map across sessions and models (issue 7): two saved runs, each from any session file
// (and so from any model), as one two-run snapshot the difference view draws (B - A). Both must have
// been run on the same prompt token ids and a model of the same layer/head layout; otherwise the
// error names both runs. Qt-free apart from the snapshot the views take; callable from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.h"
#include "views/view_data.h"

namespace attnlab {

struct SavedRunRef {
    std::string session;  // session file; empty = the app's current session
    int64_t run_id = 0;
};

struct DiffPairRequest {
    SavedRunRef a;
    SavedRunRef b;
};

// "A.attnlab#3:B.attnlab#5" (B − A); a side without a file ("#3:#5", "a.attnlab#3:#5") means the
// current session. Errors say what the syntax is.
Result<DiffPairRequest> parseDiffRuns(const std::string& text);

struct DiffPair {
    std::shared_ptr<ComparisonData> data;  // runs[0] = A, runs[1] = B, labelled "spec · file#id"
    std::vector<std::string> notes;        // e.g. why the per-token KL row is left out
};

// Opens both sessions read-only and loads the two runs with their attention matrices. An empty
// session in `request` is `current_session`.
Result<DiffPair> loadDiffPair(const DiffPairRequest& request, const std::string& current_session);

}  // namespace attnlab
