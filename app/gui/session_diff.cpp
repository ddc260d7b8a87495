#include "app/gui/session_diff.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "app/gui/session_client.h"
#include "core/session/run_record.h"
#include "core/session/session_store.h"

namespace attnlab {

namespace {

std::string firstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string refText(const SavedRunRef& r) {
    return std::filesystem::path(r.session).filename().string() + "#" + std::to_string(r.run_id);
}

struct LoadedRun {
    SavedRunRef ref;
    std::vector<int32_t> prompt_ids;
    std::shared_ptr<ComparisonData> data;  // the whole comparison the run belongs to
    size_t column = 0;
    bool has_view_data = false;
    std::string input;  // task spec or "free prompt"

    std::string describe() const {
        return refText(ref) + " (model " + data->model_name + ", " + input + ", " + std::to_string(prompt_ids.size()) +
               " prompt tokens)";
    }
};

Result<LoadedRun> loadRun(const SavedRunRef& ref) {
    using R = Result<LoadedRun>;
    const std::string where = refText(ref);
    SessionOpenOptions options;
    options.read_only = true;
    auto store = SessionStore::open(ref.session, options);
    if (!store) return R::fail(where + ": " + firstLine(store.error()));
    auto record = store->loadRun(ref.run_id, false);
    if (!record) return R::fail(where + ": " + firstLine(record.error()));
    auto saved = loadSavedComparison(*store, ref.run_id);
    if (!saved) return R::fail(where + ": " + firstLine(saved.error()));
    LoadedRun out;
    out.ref = ref;
    out.prompt_ids = record->prompt_ids;
    out.input = !saved->task_spec.empty() ? "task " + saved->task_spec : "free prompt";
    out.data = comparisonDataFromSaved(*saved);
    const auto it = std::find_if(saved->columns.begin(), saved->columns.end(),
                                 [&](const SavedColumn& c) { return c.run_id == ref.run_id; });
    if (it == saved->columns.end()) return R::fail(where + ": the run is not a column of its comparison");
    out.column = static_cast<size_t>(it - saved->columns.begin());
    out.has_view_data = it->has_view_data;
    if (out.data->model_name.empty()) out.data->model_name = record->model.path;
    return out;
}

}  // namespace

Result<DiffPairRequest> parseDiffRuns(const std::string& text) {
    using R = Result<DiffPairRequest>;
    // The file may hold ':' or '#' itself: the run ids anchor the match.
    static const std::regex pattern(R"(^(.*)#([0-9]+):(.*)#([0-9]+)$)");
    std::smatch m;
    if (!std::regex_match(text, m, pattern))
        return R::fail("--diff needs SESSION_A#RUN:SESSION_B#RUN (B minus A; leave a session out for the current "
                       "one, e.g. #3:other.attnlab#5), got '" + text + "'");
    DiffPairRequest r;
    r.a.session = m[1].str();
    r.b.session = m[3].str();
    try {
        r.a.run_id = std::stoll(m[2].str());
        r.b.run_id = std::stoll(m[4].str());
    } catch (const std::exception&) {
        return R::fail("--diff: run ids out of range in '" + text + "'");
    }
    if (r.a.run_id <= 0 || r.b.run_id <= 0) return R::fail("--diff: run ids start at 1, got '" + text + "'");
    return r;
}

Result<DiffPair> loadDiffPair(const DiffPairRequest& request, const std::string& current_session) {
    using R = Result<DiffPair>;
    SavedRunRef refs[2] = {request.a, request.b};
    for (SavedRunRef& r : refs)
        if (r.session.empty()) r.session = current_session;
    auto a = loadRun(refs[0]);
    if (!a) return R::fail("run A " + a.error());
    auto b = loadRun(refs[1]);
    if (!b) return R::fail("run B " + b.error());
    for (const LoadedRun* r : {&*a, &*b})
        if (!r->has_view_data)
            return R::fail(refText(r->ref) +
                           " has no attention matrices (runs saved by attnlab-cli keep none): save the run from the "
                           "app to compare its attention");
    if (a->prompt_ids != b->prompt_ids) {
        size_t i = 0;
        while (i < a->prompt_ids.size() && i < b->prompt_ids.size() && a->prompt_ids[i] == b->prompt_ids[i]) ++i;
        std::string where = i < std::min(a->prompt_ids.size(), b->prompt_ids.size())
                                ? "first difference at position " + std::to_string(i) + ": token " +
                                      std::to_string(a->prompt_ids[i]) + " vs " + std::to_string(b->prompt_ids[i])
                                : "one prompt is a prefix of the other";
        return R::fail("A = " + a->describe() + " and B = " + b->describe() +
                       " were not run on the same prompt token ids (" + where +
                       "; different tokenizers or inputs): a difference map needs the same prompt");
    }
    const ComparisonData& da = *a->data;
    const ComparisonData& db = *b->data;
    if (da.layers != db.layers || da.heads != db.heads || da.kv_heads != db.kv_heads)
        return R::fail("A = " + a->describe() + " has " + std::to_string(da.layers) + " layers x " +
                       std::to_string(da.heads) + " heads (" + std::to_string(da.kv_heads) + " KV heads), B = " +
                       b->describe() + " has " + std::to_string(db.layers) + " x " + std::to_string(db.heads) + " (" +
                       std::to_string(db.kv_heads) + "): the difference map compares one layer and head of both");

    DiffPair out;
    auto data = std::make_shared<ComparisonData>();
    data->model_name = da.model_name == db.model_name ? da.model_name : da.model_name + " vs " + db.model_name;
    data->layers = da.layers;
    data->heads = da.heads;
    data->kv_heads = da.kv_heads;
    data->prompt_tokens = da.prompt_tokens;
    data->task_spec = da.task_spec;
    data->answer = da.answer;
    data->reference_tokens = da.reference_tokens;
    RunData ra = da.runs[a->column];
    RunData rb = db.runs[b->column];
    ra.spec += " · " + refText(refs[0]);
    rb.spec += " · " + refText(refs[1]);
    // KL per token is measured against each comparison's own full continuation: only comparable when
    // both continued the same way.
    if (da.reference_tokens != db.reference_tokens) {
        ra.kl_per_token.clear();
        rb.kl_per_token.clear();
        out.notes.push_back("the two runs' full continuations differ (different models or settings): the per-token "
                            "KL row is left out");
    }
    data->runs = {std::move(ra), std::move(rb)};
    out.data = std::move(data);
    return out;
}

}  // namespace attnlab
