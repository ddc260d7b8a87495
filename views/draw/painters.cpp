#include "views/draw/painters.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace attnlab {

namespace {

constexpr int kMatrixSlot = 0;
constexpr int kThumbSlot = 1;
constexpr ImU32 kTextDim = IM_COL32(170, 170, 180, 255);
constexpr ImU32 kKeptColor = IM_COL32(80, 200, 120, 255);
constexpr ImU32 kEvictedColor = IM_COL32(170, 55, 55, 255);

ImU32 toU32(Rgba8 c) { return IM_COL32(c.r, c.g, c.b, c.a); }

std::string format(const char* fmt, double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), fmt, v);
    return buf;
}

// Vertical colour bar with tick labels to its right.
void drawColorBar(ImDrawList* dl, ImVec2 p0, ImVec2 p1, const ScaleRange& range) {
    constexpr int kSegments = 48;
    const float h = p1.y - p0.y;
    for (int i = 0; i < kSegments; ++i) {
        const double t_top = 1.0 - double(i) / kSegments, t_bottom = 1.0 - double(i + 1) / kSegments;
        const ImU32 top = toU32(viridis(t_top)), bottom = toU32(viridis(t_bottom));
        dl->AddRectFilledMultiColor(ImVec2(p0.x, p0.y + h * i / kSegments), ImVec2(p1.x, p0.y + h * (i + 1) / kSegments),
                                    top, top, bottom, bottom);
    }
    dl->AddRect(p0, p1, IM_COL32(90, 90, 100, 255));
    const float font = ImGui::GetFontSize();
    for (const auto& [t, label] : range.ticks()) {
        const float y = p1.y - float(t) * h;
        dl->AddLine(ImVec2(p1.x, y), ImVec2(p1.x + 4, y), kTextDim);
        dl->AddText(ImVec2(p1.x + 6, std::clamp(y - font * 0.5f, p0.y - font * 0.5f, p1.y - font * 0.5f)), kTextDim,
                    label.c_str());
    }
    const char* caption = range.scale == ColorScale::Log ? "weight (log)" : "weight";
    dl->AddText(ImVec2(p0.x, p1.y + 4), kTextDim, caption);
}

// Visible part [u0, u1] of a matrix axis for a zoom and centre; the centre is clamped in place.
std::pair<float, float> visibleSpan(float zoom, float& center) {
    const float half = 0.5f / zoom;
    center = std::clamp(center, half, 1.0f - half);
    return {center - half, center + half};
}

}  // namespace

void drawMatrixView(const AttentionViewModel& model, MatrixViewState& state, CanvasFrame& frame) {
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextUnformatted(model.title().c_str());
    ImGui::PopTextWrapPos();
    const AttentionMatrix* m = model.matrix();
    if (model.isMaskOverlay()) {
        if (m) {
            const KeptCoverage c = model.coverage();
            if (c.has_mask) {
                ImGui::TextWrapped("kept %lld of %lld keys (%.1f%%) · they carry %.1f%% of the last query's full "
                                   "attention, %.1f%% on average over all queries",
                            static_cast<long long>(c.kept_keys), static_cast<long long>(c.total_keys),
                            100.0 * double(c.kept_keys) / double(std::max<int64_t>(1, c.total_keys)),
                            100.0 * c.last_row_mass, 100.0 * c.mean_row_mass);
            } else {
                ImGui::TextUnformatted("this strategy keeps every KV entry of this head (100% of the attention mass)");
            }
        } else {
            ImGui::TextUnformatted(" ");
        }
    }
    if (!m) {
        ImGui::Spacing();
        ImGui::TextDisabled("%s", model.emptyReason().c_str());
        return;
    }

    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImGuiIO& io = ImGui::GetIO();
    const float font = ImGui::GetFontSize();
    const bool show_strip = model.isMaskOverlay() && !model.keptMask().empty();
    const float strip_h = show_strip ? 8.0f : 0.0f;
    const ImVec2 cursor = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float bar_w = 14, bar_labels_w = 70, left_w = font * 3.2f, footer_h = font * 2.6f;

    // The matrix keeps its aspect (rows x cols) inside what is left.
    const float room_w = std::max(40.0f, avail.x - left_w - bar_w - bar_labels_w - 16);
    const float room_h = std::max(40.0f, avail.y - strip_h - footer_h - 6);
    const float aspect = float(m->cols) / float(std::max<int64_t>(1, m->rows));
    float w = room_w, h = room_w / aspect;
    if (h > room_h) {
        h = room_h;
        w = room_h * aspect;
    }
    const ImVec2 p0(std::floor(cursor.x + left_w), std::floor(cursor.y + strip_h + 4));
    const ImVec2 p1(p0.x + std::floor(w), p0.y + std::floor(h));
    w = p1.x - p0.x;
    h = p1.y - p0.y;

    // Interaction first, so this frame already draws the new zoom and pan.
    ImGui::SetCursorScreenPos(p0);
    ImGui::InvisibleButton("##matrix", ImVec2(w, h), ImGuiButtonFlags_MouseButtonLeft);
    const bool is_hovered = frame.is_interactive && ImGui::IsItemHovered();
    auto [u0, u1] = visibleSpan(state.zoom, state.center_u);
    auto [v0, v1] = visibleSpan(state.zoom, state.center_v);
    if (frame.is_interactive) {
        const float max_zoom = std::max(1.0f, float(std::max(m->rows, m->cols)) / 4.0f);
        if (is_hovered && io.MouseWheel != 0) {
            const float mu = u0 + (io.MousePos.x - p0.x) / w * (u1 - u0);
            const float mv = v0 + (io.MousePos.y - p0.y) / h * (v1 - v0);
            const float zoom = std::clamp(state.zoom * std::pow(1.25f, io.MouseWheel), 1.0f, max_zoom);
            state.center_u = mu - (io.MousePos.x - p0.x) / w / zoom + 0.5f / zoom;
            state.center_v = mv - (io.MousePos.y - p0.y) / h / zoom + 0.5f / zoom;
            state.zoom = zoom;
        }
        if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 1.0f)) {
            state.center_u -= io.MouseDelta.x / w / state.zoom;
            state.center_v -= io.MouseDelta.y / h / state.zoom;
        }
        if (is_hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) state.reset();
        if (ImGui::IsWindowFocused()) {
            const float step = 0.1f / state.zoom;
            if (ImGui::IsKeyPressed(ImGuiKey_LeftArrow)) state.center_u -= step;
            if (ImGui::IsKeyPressed(ImGuiKey_RightArrow)) state.center_u += step;
            if (ImGui::IsKeyPressed(ImGuiKey_UpArrow)) state.center_v -= step;
            if (ImGui::IsKeyPressed(ImGuiKey_DownArrow)) state.center_v += step;
            for (ImWchar c : io.InputQueueCharacters) {
                if (c == '+' || c == '=') state.zoom = std::min(max_zoom, state.zoom * 1.25f);
                if (c == '-') state.zoom = std::max(1.0f, state.zoom / 1.25f);
                if (c == '0') state.reset();
            }
        }
        std::tie(u0, u1) = visibleSpan(state.zoom, state.center_u);
        std::tie(v0, v1) = visibleSpan(state.zoom, state.center_v);
    }

    dl->AddRectFilled(ImVec2(p0.x - 1, p0.y - 1), ImVec2(p1.x + 1, p1.y + 1), IM_COL32(60, 60, 70, 255));
    dl->AddImage(frame.textures->texture(kMatrixSlot, model.image()), p0, p1, ImVec2(u0, v0), ImVec2(u1, v1));

    // Matrix cells visible: columns [c0, c1), rows [r0, r1).
    const double col_span = double(u1 - u0) * double(m->cols), row_span = double(v1 - v0) * double(m->rows);
    const int64_t c0 = static_cast<int64_t>(std::floor(double(u0) * double(m->cols)));
    const int64_t r0 = static_cast<int64_t>(std::floor(double(v0) * double(m->rows)));
    const int64_t c1 = std::min<int64_t>(m->cols, static_cast<int64_t>(std::ceil(double(u1) * double(m->cols))));
    const int64_t r1 = std::min<int64_t>(m->rows, static_cast<int64_t>(std::ceil(double(v1) * double(m->rows))));
    auto colToX = [&](double col) { return p0.x + float((col - double(u0) * double(m->cols)) / col_span) * w; };
    auto rowToY = [&](double row) { return p0.y + float((row - double(v0) * double(m->rows)) / row_span) * h; };

    if (show_strip) {
        // One rectangle per screen pixel column (or per cell when cells are wider than a pixel).
        const auto& kept = model.keptMask();
        const int64_t columns = std::max<int64_t>(1, c1 - c0);
        const int px = std::max(1, static_cast<int>(w));
        const int64_t steps = std::min<int64_t>(columns, px);
        for (int64_t i = 0; i < steps; ++i) {
            const int64_t a = c0 + i * columns / steps, b = std::max(a + 1, c0 + (i + 1) * columns / steps);
            bool any_kept = false;
            for (int64_t c = a; c < b && c < m->cols; ++c) any_kept |= kept[static_cast<size_t>(c)] != 0;
            const float x0 = std::max(p0.x, colToX(double(a))), x1 = std::min(p1.x, colToX(double(b)));
            if (x1 > x0) dl->AddRectFilled(ImVec2(x0, p0.y - strip_h - 2), ImVec2(x1, p0.y - 2),
                                           any_kept ? kKeptColor : kEvictedColor);
        }
    }

    // Axis labels: first and last visible positions, captions.
    const auto& qpos = m->query_positions;
    const auto& kpos = m->key_positions;
    auto position = [](const std::vector<int64_t>& v, int64_t i) {
        return i >= 0 && i < static_cast<int64_t>(v.size()) ? v[static_cast<size_t>(i)] : i;
    };
    const std::string first_row = std::to_string(position(qpos, r0)), last_row = std::to_string(position(qpos, r1 - 1));
    dl->AddText(ImVec2(p0.x - ImGui::CalcTextSize(first_row.c_str()).x - 4, p0.y), kTextDim, first_row.c_str());
    dl->AddText(ImVec2(p0.x - ImGui::CalcTextSize(last_row.c_str()).x - 4, p1.y - font), kTextDim, last_row.c_str());
    dl->AddText(ImVec2(cursor.x, p0.y + h * 0.5f - font), kTextDim, "query");
    dl->AddText(ImVec2(cursor.x, p0.y + h * 0.5f), kTextDim, "  ↓");
    const std::string first_col = std::to_string(position(kpos, c0)), last_col = std::to_string(position(kpos, c1 - 1));
    dl->AddText(ImVec2(p0.x, p1.y + 2), kTextDim, first_col.c_str());
    dl->AddText(ImVec2(p1.x - ImGui::CalcTextSize(last_col.c_str()).x, p1.y + 2), kTextDim, last_col.c_str());
    const char* key_caption = "key →";
    dl->AddText(ImVec2(p0.x + w * 0.5f - ImGui::CalcTextSize(key_caption).x * 0.5f, p1.y + 2), kTextDim, key_caption);

    drawColorBar(dl, ImVec2(p1.x + 12, p0.y), ImVec2(p1.x + 12 + bar_w, p1.y - font - 4), model.range());

    // The focused query row or key column, outlined in the accent colour.
    if (const int64_t fi = model.focusIndex(); fi >= 0) {
        const ImU32 accent = IM_COL32(255, 170, 40, 230);
        if (model.focusKind() == FocusKind::Query && fi >= r0 && fi < r1) {
            const float y0 = std::max(p0.y, rowToY(double(fi))), y1 = std::min(p1.y, rowToY(double(fi + 1)));
            dl->AddRect(ImVec2(p0.x - 1, y0 - 1), ImVec2(p1.x + 1, std::max(y1, y0 + 1) + 1), accent, 0, 0, 2);
        } else if (model.focusKind() == FocusKind::Key && fi >= c0 && fi < c1) {
            const float x0 = std::max(p0.x, colToX(double(fi))), x1 = std::min(p1.x, colToX(double(fi + 1)));
            dl->AddRect(ImVec2(x0 - 1, p0.y - 1), ImVec2(std::max(x1, x0 + 1) + 1, p1.y + 1), accent, 0, 0, 2);
        }
    }
    if (frame.is_interactive && ImGui::IsWindowFocused() && ImGui::IsKeyPressed(ImGuiKey_Escape) &&
        model.focusKind() != FocusKind::None) {
        state.has_focus_request = true;
        state.requested_focus = FocusKind::None;
        state.requested_index = -1;
    }

    if (frame.is_interactive) {
        std::string footer = "zoom " + format("%.1f", state.zoom) +
                             "×  · wheel zoom · drag pan · double-click reset · click: focus query · right-click: key";
        dl->AddText(ImVec2(p0.x, p1.y + font + 6), kTextDim, footer.c_str());
    }

    if (is_hovered) {
        const int64_t row = static_cast<int64_t>(std::floor(double(v0) * double(m->rows) +
                                                            double(io.MousePos.y - p0.y) / double(h) * row_span));
        const int64_t col = static_cast<int64_t>(std::floor(double(u0) * double(m->cols) +
                                                            double(io.MousePos.x - p0.x) / double(w) * col_span));
        const CellInfo cell = model.cell(row, col);
        if (cell.is_valid) {
            // Outline the hovered row and column.
            const float x0 = std::max(p0.x, colToX(double(col))), x1 = std::min(p1.x, colToX(double(col + 1)));
            const float y0 = std::max(p0.y, rowToY(double(row))), y1 = std::min(p1.y, rowToY(double(row + 1)));
            const ImU32 outline = IM_COL32(255, 255, 255, 110);
            dl->AddRect(ImVec2(p0.x, y0), ImVec2(p1.x, std::max(y1, y0 + 1)), outline);
            dl->AddRect(ImVec2(x0, p0.y), ImVec2(std::max(x1, x0 + 1), p1.y), outline);
            ImGui::BeginTooltip();
            ImGui::Text("query  #%lld  \"%s\"", static_cast<long long>(cell.query_position),
                        displayToken(cell.query_token).c_str());
            ImGui::Text("key    #%lld  \"%s\"", static_cast<long long>(cell.key_position),
                        displayToken(cell.key_token).c_str());
            if (cell.is_future) {
                ImGui::TextDisabled("masked: the key comes after the query");
            } else {
                ImGui::Text("weight %.6f", double(cell.weight));
            }
            if (model.isMaskOverlay() && !model.keptMask().empty())
                ImGui::TextUnformatted(cell.is_kept ? "kept by the strategy" : "evicted by the strategy");
            ImGui::EndTooltip();
            // A click (not the end of a drag) focuses the row; right-click or Ctrl+click the column.
            const bool is_click = ImGui::IsMouseReleased(ImGuiMouseButton_Left) && io.MouseDragMaxDistanceSqr[0] < 16.0f;
            const bool is_key_click = ImGui::IsMouseClicked(ImGuiMouseButton_Right) || (is_click && io.KeyCtrl);
            if (is_click || is_key_click) {
                const FocusKind kind = is_key_click ? FocusKind::Key : FocusKind::Query;
                const int64_t index = kind == FocusKind::Key ? col : row;
                const bool is_same = model.focusKind() == kind && model.focusIndex() == index;
                state.has_focus_request = true;
                state.requested_focus = is_same ? FocusKind::None : kind;
                state.requested_index = is_same ? -1 : index;
            }
        }
    }
    ImGui::SetCursorScreenPos(ImVec2(cursor.x, p1.y + footer_h));
}

std::optional<std::pair<int64_t, int64_t>> drawHeadGrid(const HeadGridModel& model, CanvasFrame& frame) {
    std::optional<std::pair<int64_t, int64_t>> clicked;
    ImGui::TextUnformatted(model.title().c_str());
    const ComparisonData* data = model.data();
    if (!data || data->runs.empty() || model.layers() <= 0 || model.heads() <= 0) {
        ImGui::TextDisabled("Run a comparison to see its heads.");
        return clicked;
    }
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float font = ImGui::GetFontSize();

    // Legend: the score's range as a horizontal bar, and what the score means.
    {
        const ImVec2 c = ImGui::GetCursorScreenPos();
        constexpr int kSegments = 32;
        const float bw = 160, bh = 10;
        for (int i = 0; i < kSegments; ++i) {
            const ImU32 a = toU32(viridis(double(i) / kSegments)), b = toU32(viridis(double(i + 1) / kSegments));
            dl->AddRectFilledMultiColor(ImVec2(c.x + bw * i / kSegments, c.y + 3),
                                        ImVec2(c.x + bw * (i + 1) / kSegments, c.y + 3 + bh), a, b, b, a);
        }
        dl->AddText(ImVec2(c.x + bw + 6, c.y), kTextDim, "0 … 1");
        ImGui::Dummy(ImVec2(bw, bh + 6));
        ImGui::PushTextWrapPos(0.0f);
        ImGui::TextDisabled("%s", headScoreHelp(model.score()));
        ImGui::PopTextWrapPos();
    }

    const int64_t L = model.layers(), H = model.heads();
    const int64_t group = data->groupSize();
    const int64_t groups = (H + group - 1) / group;
    const float group_gap = groups > 1 ? 6.0f : 0.0f;
    const float label_w = font * 2.4f, header_h = font * 2.3f;
    const ImVec2 cursor = ImGui::GetCursorScreenPos();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float cell = std::clamp(std::min((avail.x - label_w - group_gap * float(groups - 1)) / float(H),
                                           (avail.y - header_h - 4) / float(L)),
                                  6.0f, 96.0f);
    auto cellOrigin = [&](int64_t layer, int64_t head) {
        return ImVec2(cursor.x + label_w + float(head) * cell + float(head / group) * group_gap,
                      cursor.y + header_h + float(layer) * cell);
    };

    // Headers: KV groups, then query head numbers.
    for (int64_t g = 0; g < groups && groups > 1; ++g) {
        const ImVec2 a = cellOrigin(0, g * group);
        const std::string label = "KV " + std::to_string(g);
        dl->AddText(ImVec2(a.x + 2, cursor.y), kTextDim, label.c_str());
        dl->AddLine(ImVec2(a.x + 1, cursor.y + font + 1),
                    ImVec2(a.x + cell * float(std::min(group, H - g * group)) - 1, cursor.y + font + 1), kTextDim);
    }
    for (int64_t h = 0; h < H; ++h) {
        if (cell < font * 1.2f && h % 4 != 0) continue;
        const std::string label = std::to_string(h);
        const ImVec2 a = cellOrigin(0, h);
        dl->AddText(ImVec2(a.x + (cell - ImGui::CalcTextSize(label.c_str()).x) * 0.5f, cursor.y + font + 3), kTextDim,
                    label.c_str());
    }

    const ImTextureID thumbs = frame.textures->texture(kThumbSlot, model.thumbnails());
    const float tw = float(model.thumbnails().width), th = float(model.thumbnails().height);
    const ImGuiIO& io = ImGui::GetIO();
    int64_t hovered_layer = -1, hovered_head = -1;
    for (int64_t l = 0; l < L; ++l) {
        const std::string label = "L" + std::to_string(l);
        if (cell >= font || l % 4 == 0)
            dl->AddText(ImVec2(cursor.x, cellOrigin(l, 0).y + (cell - font) * 0.5f), kTextDim, label.c_str());
        for (int64_t h = 0; h < H; ++h) {
            const ImVec2 a = cellOrigin(l, h);
            const ImVec2 b(a.x + cell - 1, a.y + cell - 1);
            const double score = model.scoreAt(l, h);
            dl->AddRectFilled(a, b, score < 0 ? IM_COL32(50, 50, 55, 255) : toU32(viridis(score)));
            if (score >= 0 && tw > 0) {
                const float inset = cell >= 20 ? 2.0f : 0.0f;
                const ImVec2 uv0(float(h * HeadGridModel::kThumbSide) / tw, float(l * HeadGridModel::kThumbSide) / th);
                const ImVec2 uv1(float((h + 1) * HeadGridModel::kThumbSide) / tw,
                                 float((l + 1) * HeadGridModel::kThumbSide) / th);
                dl->AddImage(thumbs, ImVec2(a.x + inset, a.y + inset), ImVec2(b.x - inset, b.y - inset), uv0, uv1,
                             IM_COL32(255, 255, 255, 150));
            }
            if (score >= 0 && cell >= font * 2.8f) {
                const std::string text = format("%.2f", score);
                const ImVec2 t(a.x + 3, b.y - font - 1);
                dl->AddText(ImVec2(t.x + 1, t.y + 1), IM_COL32(0, 0, 0, 200), text.c_str());
                dl->AddText(t, IM_COL32(255, 255, 255, 255), text.c_str());
            }
            if (l == model.selectedLayer() && h == model.selectedHead())
                dl->AddRect(ImVec2(a.x - 1, a.y - 1), ImVec2(b.x + 1, b.y + 1), IM_COL32(255, 255, 255, 255), 0, 0, 2.0f);
            if (frame.is_interactive && io.MousePos.x >= a.x && io.MousePos.x < b.x + 1 && io.MousePos.y >= a.y &&
                io.MousePos.y < b.y + 1 && ImGui::IsWindowHovered()) {
                hovered_layer = l;
                hovered_head = h;
                dl->AddRect(ImVec2(a.x - 1, a.y - 1), ImVec2(b.x + 1, b.y + 1), IM_COL32(255, 210, 80, 255), 0, 0, 2.0f);
            }
        }
    }
    ImGui::Dummy(ImVec2(label_w + cell * float(H) + group_gap * float(groups - 1), header_h + cell * float(L)));

    if (hovered_layer >= 0) {
        const HeadStats& s = model.stats(hovered_layer, hovered_head);
        ImGui::BeginTooltip();
        ImGui::Text("layer %lld · head %lld · KV head %lld", static_cast<long long>(hovered_layer),
                    static_cast<long long>(hovered_head), static_cast<long long>(data->kvHeadOf(hovered_head)));
        if (s.has_capture) {
            for (HeadScore score : allHeadScores()) ImGui::Text("%-14s %.3f", headScoreName(score), s.value(score));
            ImGui::TextDisabled("click: open this head");
        } else {
            ImGui::TextDisabled("not captured in this run");
        }
        ImGui::EndTooltip();
        if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) clicked = std::make_pair(hovered_layer, hovered_head);
    }
    return clicked;
}

}  // namespace attnlab
