#include "core/analysis/long_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/engine/model.h"
#include "core/io/safetensors.h"
#include "core/model/transformer.h"

namespace attnlab {

namespace {

constexpr const char* kFormat = "attnlab.long_attention";
constexpr int64_t kKeyBlock = 4096;  // keys per score block: block_rows x 4096 floats at a time

bool cancelled(const std::atomic<bool>* cancel) { return cancel && cancel->load(std::memory_order_relaxed); }

// Non-owning [rows, D] view of a capture's row-major data (read-only use only).
at::Tensor rowsOf(const std::vector<float>& data, int64_t d, int64_t r0, int64_t r1) {
    return at::from_blob(const_cast<float*>(data.data()) + r0 * d, {r1 - r0, d}, at::kFloat);
}

Status checkRange(const LongAttentionCapture& c, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    if (r0 < 0 || c0 < 0 || r1 > c.tokens || c1 > c.tokens || r0 >= r1 || c0 >= c1)
        return Status::fail("tile rows [" + std::to_string(r0) + ", " + std::to_string(r1) + ") x columns [" +
                            std::to_string(c0) + ", " + std::to_string(c1) + ") is empty or outside the " +
                            std::to_string(c.tokens) + "-token capture");
    if (!c.hasNormalisers()) return Status::fail("the capture has no row normalisers (computeRowNormalisers first)");
    return Status::ok();
}

// For each column in [c0, c1), the index of its cell under `edges` (which start at c0).
std::vector<int32_t> cellIndex(const std::vector<int64_t>& edges) {
    std::vector<int32_t> idx(static_cast<size_t>(edges.back() - edges.front()));
    for (size_t c = 0; c + 1 < edges.size(); ++c)
        for (int64_t j = edges[c]; j < edges[c + 1]; ++j) idx[static_cast<size_t>(j - edges.front())] = static_cast<int32_t>(c);
    return idx;
}

}  // namespace

bool PooledWeights::isExact() const {
    return rows == row_edges.back() - row_edges.front() && cols == col_edges.back() - col_edges.front();
}

size_t PooledWeights::bytes() const {
    return (max.size() + mean.size()) * sizeof(float) + (row_edges.size() + col_edges.size()) * sizeof(int64_t);
}

size_t AttentionPyramid::bytes() const {
    size_t b = 0;
    for (const PooledWeights& l : levels) b += l.bytes();
    return b;
}

std::vector<int64_t> splitEdges(int64_t begin, int64_t end, int64_t cells) {
    std::vector<int64_t> e(static_cast<size_t>(cells + 1));
    const int64_t n = end - begin;
    for (int64_t k = 0; k <= cells; ++k) e[static_cast<size_t>(k)] = begin + (k * n) / cells;
    return e;
}

Status validateCapture(const LongAttentionCapture& c) {
    if (c.tokens <= 0 || c.head_dim <= 0) return Status::fail("the capture has no tokens or a zero head size");
    const auto want = static_cast<size_t>(c.tokens * c.head_dim);
    if (c.queries.size() != want || c.keys.size() != want)
        return Status::fail("queries/keys hold " + std::to_string(c.queries.size()) + "/" + std::to_string(c.keys.size()) +
                            " values but tokens x head_dim is " + std::to_string(want));
    if (!(c.scale > 0) || !std::isfinite(c.scale)) return Status::fail("the softmax scale must be a positive number");
    for (const std::vector<float>* v : {&c.queries, &c.keys})
        for (float x : *v)
            if (!std::isfinite(x)) return Status::fail("queries/keys contain a non-finite value");
    if (!c.row_lse.empty() && (static_cast<int64_t>(c.row_lse.size()) != c.tokens ||
                               static_cast<int64_t>(c.row_max.size()) != c.tokens))
        return Status::fail("row_max/row_lse must hold one value per token");
    return Status::ok();
}

Status computeRowNormalisers(LongAttentionCapture& c, int64_t block_rows, const std::atomic<bool>* cancel) {
    if (Status s = validateCapture(c); !s.isOk()) return s;
    c10::InferenceMode guard;
    const int64_t n = c.tokens, d = c.head_dim;
    block_rows = std::max<int64_t>(1, block_rows);
    std::vector<float> row_max(static_cast<size_t>(n)), row_lse(static_cast<size_t>(n));
    const float neg_inf = -std::numeric_limits<float>::infinity();
    for (int64_t r0 = 0; r0 < n; r0 += block_rows) {
        if (cancelled(cancel)) return Status::fail("cancelled");
        const int64_t r1 = std::min(n, r0 + block_rows);
        at::Tensor q = rowsOf(c.queries, d, r0, r1).mul(c.scale);
        at::Tensor m = at::full({r1 - r0}, neg_inf, at::kFloat);
        at::Tensor sum = at::zeros({r1 - r0}, at::kFloat);
        at::Tensor rows = at::arange(r0, r1, at::kLong).view({-1, 1});
        for (int64_t c0 = 0; c0 < r1; c0 += kKeyBlock) {
            const int64_t c1 = std::min(r1, c0 + kKeyBlock);
            at::Tensor s = at::matmul(q, rowsOf(c.keys, d, c0, c1).t());
            if (c1 > r0 + 1) s.masked_fill_(at::arange(c0, c1, at::kLong).view({1, -1}) > rows, neg_inf);
            at::Tensor m_new = at::maximum(m, std::get<0>(s.max(1)));
            sum = sum.mul(at::exp(m - m_new)).add_(at::exp(s.sub_(m_new.view({-1, 1}))).sum(1));
            m = m_new;
        }
        at::Tensor lse = m + at::log(sum);
        std::memcpy(row_max.data() + r0, m.data_ptr<float>(), sizeof(float) * static_cast<size_t>(r1 - r0));
        std::memcpy(row_lse.data() + r0, lse.data_ptr<float>(), sizeof(float) * static_cast<size_t>(r1 - r0));
    }
    c.row_max = std::move(row_max);
    c.row_lse = std::move(row_lse);
    return Status::ok();
}

namespace {

// Pools the exact weights of the grid given by row_edges x col_edges (contiguous ranges) into `out`.
Status poolGrid(const LongAttentionCapture& c, PooledWeights& out, const std::atomic<bool>* cancel) {
    c10::InferenceMode guard;
    const int64_t d = c.head_dim;
    const int64_t rows = out.rows, cols = out.cols;
    const int64_t c_begin = out.col_edges.front(), c_end = out.col_edges.back();
    const std::vector<int32_t> col_cell = cellIndex(out.col_edges);
    out.max.assign(static_cast<size_t>(rows * cols), 0.f);
    out.mean.assign(static_cast<size_t>(rows * cols), 0.f);
    // Bands of whole row cells, at least ~256 rows, so each matmul is large enough to be efficient.
    int64_t cell0 = 0;
    while (cell0 < rows) {
        if (cancelled(cancel)) return Status::fail("cancelled");
        int64_t cell1 = cell0 + 1;
        while (cell1 < rows && out.row_edges[static_cast<size_t>(cell1)] - out.row_edges[static_cast<size_t>(cell0)] < 256)
            ++cell1;
        const int64_t r0 = out.row_edges[static_cast<size_t>(cell0)], r1 = out.row_edges[static_cast<size_t>(cell1)];
        at::Tensor q = rowsOf(c.queries, d, r0, r1).mul(c.scale);
        at::Tensor lse = at::from_blob(const_cast<float*>(c.row_lse.data()) + r0, {r1 - r0, 1}, at::kFloat);
        const int64_t visible_end = std::min(c_end, r1);  // columns >= r1 are above the diagonal for every row here
        std::vector<double> sums(static_cast<size_t>((cell1 - cell0) * cols), 0.0);
        for (int64_t k0 = c_begin; k0 < visible_end; k0 += kKeyBlock) {
            const int64_t k1 = std::min(visible_end, k0 + kKeyBlock);
            at::Tensor p = at::exp(at::matmul(q, rowsOf(c.keys, d, k0, k1).t()).sub_(lse)).contiguous();
            const float* pp = p.data_ptr<float>();
            const int64_t w = k1 - k0;
            // Row cells write disjoint outputs, so they can run in parallel.
            at::parallel_for(cell0, cell1, 1, [&](int64_t a, int64_t b) {
                for (int64_t rc = a; rc < b; ++rc) {
                    float* mx = out.max.data() + rc * cols;
                    double* sm = sums.data() + (rc - cell0) * cols;
                    for (int64_t i = out.row_edges[static_cast<size_t>(rc)]; i < out.row_edges[static_cast<size_t>(rc + 1)]; ++i) {
                        const float* prow = pp + (i - r0) * w;
                        const int64_t jend = std::min(k1, i + 1);  // causal: keys 0..i
                        int32_t cur = -1;
                        float cmax = 0.f;
                        double csum = 0.0;
                        for (int64_t j = k0; j < jend; ++j) {
                            const int32_t cell = col_cell[static_cast<size_t>(j - c_begin)];
                            if (cell != cur) {
                                if (cur >= 0) {
                                    mx[cur] = std::max(mx[cur], cmax);
                                    sm[cur] += csum;
                                }
                                cur = cell;
                                cmax = 0.f;
                                csum = 0.0;
                            }
                            const float v = prow[j - k0];
                            cmax = std::max(cmax, v);
                            csum += v;
                        }
                        if (cur >= 0) {
                            mx[cur] = std::max(mx[cur], cmax);
                            sm[cur] += csum;
                        }
                    }
                }
            });
        }
        for (int64_t rc = cell0; rc < cell1; ++rc) {
            const double h = static_cast<double>(out.row_edges[static_cast<size_t>(rc + 1)] - out.row_edges[static_cast<size_t>(rc)]);
            for (int64_t cc = 0; cc < cols; ++cc) {
                const double area = h * static_cast<double>(out.col_edges[static_cast<size_t>(cc + 1)] - out.col_edges[static_cast<size_t>(cc)]);
                out.mean[static_cast<size_t>(rc * cols + cc)] = static_cast<float>(sums[static_cast<size_t>((rc - cell0) * cols + cc)] / area);
            }
        }
        cell0 = cell1;
    }
    return Status::ok();
}

}  // namespace

Result<PooledWeights> computePooledTile(const LongAttentionCapture& c, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                                        int64_t out_rows, int64_t out_cols, const std::atomic<bool>* cancel) {
    if (Status s = checkRange(c, r0, r1, c0, c1); !s.isOk()) return s;
    if (out_rows <= 0 || out_cols <= 0) return Status::fail("a pooled tile needs at least one cell per side");
    PooledWeights out;
    out.rows = std::min(out_rows, r1 - r0);
    out.cols = std::min(out_cols, c1 - c0);
    out.row_edges = splitEdges(r0, r1, out.rows);
    out.col_edges = splitEdges(c0, c1, out.cols);
    try {
        if (Status s = poolGrid(c, out, cancel); !s.isOk()) return s;
    } catch (const std::exception& e) {
        return Status::fail(std::string("pooled tile: ") + e.what());
    }
    return out;
}

Result<std::vector<float>> computeTile(const LongAttentionCapture& c, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    if (Status s = checkRange(c, r0, r1, c0, c1); !s.isOk()) return s;
    try {
        c10::InferenceMode guard;
        const int64_t d = c.head_dim;
        at::Tensor lse = at::from_blob(const_cast<float*>(c.row_lse.data()) + r0, {r1 - r0, 1}, at::kFloat);
        at::Tensor p = at::exp(at::matmul(rowsOf(c.queries, d, r0, r1).mul(c.scale), rowsOf(c.keys, d, c0, c1).t()).sub_(lse));
        p.masked_fill_(at::arange(c0, c1, at::kLong).view({1, -1}) > at::arange(r0, r1, at::kLong).view({-1, 1}), 0.0);
        p = p.contiguous();
        return std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    } catch (const std::exception& e) {
        return Status::fail(std::string("tile: ") + e.what());
    }
}

float exactWeight(const LongAttentionCapture& c, int64_t row, int64_t col) {
    if (row < 0 || col < 0 || row >= c.tokens || col > row || !c.hasNormalisers()) return 0.f;
    const float* q = c.queries.data() + row * c.head_dim;
    const float* k = c.keys.data() + col * c.head_dim;
    double dot = 0;
    for (int64_t t = 0; t < c.head_dim; ++t) dot += static_cast<double>(q[t]) * k[t];
    return static_cast<float>(std::exp(dot * c.scale - c.row_lse[static_cast<size_t>(row)]));
}

void completePyramid(AttentionPyramid& p) {
    if (p.levels.empty()) return;
    p.levels.resize(1);
    while (p.levels.back().rows > 1 || p.levels.back().cols > 1) {
        const PooledWeights& f = p.levels.back();
        PooledWeights g;
        g.rows = (f.rows + 1) / 2;
        g.cols = (f.cols + 1) / 2;
        for (int64_t r = 0; r <= f.rows; r += 2) g.row_edges.push_back(f.row_edges[static_cast<size_t>(r)]);
        if (g.row_edges.size() < static_cast<size_t>(g.rows + 1)) g.row_edges.push_back(f.row_edges.back());
        for (int64_t cc = 0; cc <= f.cols; cc += 2) g.col_edges.push_back(f.col_edges[static_cast<size_t>(cc)]);
        if (g.col_edges.size() < static_cast<size_t>(g.cols + 1)) g.col_edges.push_back(f.col_edges.back());
        g.max.assign(static_cast<size_t>(g.rows * g.cols), 0.f);
        g.mean.assign(static_cast<size_t>(g.rows * g.cols), 0.f);
        for (int64_t r = 0; r < g.rows; ++r)
            for (int64_t cc = 0; cc < g.cols; ++cc) {
                float mx = 0.f;
                double sum = 0.0;
                for (int64_t fr = 2 * r; fr < std::min(f.rows, 2 * r + 2); ++fr)
                    for (int64_t fc = 2 * cc; fc < std::min(f.cols, 2 * cc + 2); ++fc) {
                        const size_t i = static_cast<size_t>(fr * f.cols + fc);
                        mx = std::max(mx, f.max[i]);
                        const double area = static_cast<double>(f.row_edges[static_cast<size_t>(fr + 1)] - f.row_edges[static_cast<size_t>(fr)]) *
                                            static_cast<double>(f.col_edges[static_cast<size_t>(fc + 1)] - f.col_edges[static_cast<size_t>(fc)]);
                        sum += static_cast<double>(f.mean[i]) * area;
                    }
                const double area = static_cast<double>(g.row_edges[static_cast<size_t>(r + 1)] - g.row_edges[static_cast<size_t>(r)]) *
                                    static_cast<double>(g.col_edges[static_cast<size_t>(cc + 1)] - g.col_edges[static_cast<size_t>(cc)]);
                g.max[static_cast<size_t>(r * g.cols + cc)] = mx;
                g.mean[static_cast<size_t>(r * g.cols + cc)] = static_cast<float>(sum / area);
            }
        p.levels.push_back(std::move(g));
    }
}

Result<AttentionPyramid> buildPyramid(const LongAttentionCapture& c, int64_t finest_cells, const std::atomic<bool>* cancel) {
    if (!c.hasNormalisers()) return Status::fail("the capture has no row normalisers (computeRowNormalisers first)");
    if (finest_cells <= 0) return Status::fail("the pyramid needs at least one cell");
    const int64_t s = std::min(finest_cells, c.tokens);
    Result<PooledWeights> top = computePooledTile(c, 0, c.tokens, 0, c.tokens, s, s, cancel);
    if (!top) return Status::fail(top.error());
    AttentionPyramid p;
    p.tokens = c.tokens;
    p.levels.push_back(std::move(*top));
    completePyramid(p);
    return p;
}

Result<AttentionPyramid> buildPyramidOnDevice(LongAttentionCapture& c, const std::string& device, int64_t finest_cells) {
    if (Status s = validateCapture(c); !s.isOk()) return s;
    const int64_t n = c.tokens, d = c.head_dim;
    const int64_t cells = std::min(finest_cells, n);
    if (cells <= 0 || n % cells != 0)
        return Status::fail("the device pyramid needs the token count (" + std::to_string(n) +
                            ") to be a multiple of the cell count (" + std::to_string(cells) + ")");
    try {
        c10::InferenceMode guard;
        const at::Device dev(device);
        const auto opts = at::TensorOptions().dtype(at::kFloat).device(dev);
        at::Tensor q = at::from_blob(c.queries.data(), {n, d}, at::kFloat).to(dev).mul_(c.scale);
        at::Tensor k = at::from_blob(c.keys.data(), {n, d}, at::kFloat).to(dev);
        const int64_t bin = n / cells;
        // Row bands of whole cells, ~1024 rows; key blocks of whole cells, ~8192 keys.
        const int64_t band = bin * std::max<int64_t>(1, 1024 / bin), kblock = bin * std::max<int64_t>(1, 8192 / bin);
        const float neg_inf = -std::numeric_limits<float>::infinity();
        at::Tensor lse_all = at::empty({n}, opts), max_all = at::empty({n}, opts);
        for (int64_t r0 = 0; r0 < n; r0 += band) {
            const int64_t r1 = std::min(n, r0 + band);
            at::Tensor qb = q.slice(0, r0, r1), rows = at::arange(r0, r1, opts.dtype(at::kLong)).view({-1, 1});
            at::Tensor m = at::full({r1 - r0}, neg_inf, opts), sum = at::zeros({r1 - r0}, opts);
            for (int64_t k0 = 0; k0 < r1; k0 += kblock) {
                const int64_t k1 = std::min(r1, k0 + kblock);
                at::Tensor s = at::matmul(qb, k.slice(0, k0, k1).t());
                if (k1 > r0 + 1) s.masked_fill_(at::arange(k0, k1, opts.dtype(at::kLong)).view({1, -1}) > rows, neg_inf);
                at::Tensor m_new = at::maximum(m, std::get<0>(s.max(1)));
                sum = sum.mul(at::exp(m - m_new)).add_(at::exp(s.sub_(m_new.view({-1, 1}))).sum(1));
                m = m_new;
            }
            max_all.slice(0, r0, r1).copy_(m);
            lse_all.slice(0, r0, r1).copy_(m + at::log(sum));
        }
        at::Tensor pmax = at::zeros({cells, cells}, opts), psum = at::zeros({cells, cells}, opts);
        for (int64_t r0 = 0; r0 < n; r0 += band) {
            const int64_t r1 = std::min(n, r0 + band);
            at::Tensor qb = q.slice(0, r0, r1), rows = at::arange(r0, r1, opts.dtype(at::kLong)).view({-1, 1});
            at::Tensor lse = lse_all.slice(0, r0, r1).view({-1, 1});
            for (int64_t k0 = 0; k0 < r1; k0 += kblock) {
                const int64_t k1 = std::min(r1, k0 + kblock);
                at::Tensor p = at::exp(at::matmul(qb, k.slice(0, k0, k1).t()).sub_(lse));
                if (k1 > r0 + 1) p.masked_fill_(at::arange(k0, k1, opts.dtype(at::kLong)).view({1, -1}) > rows, 0.0);
                at::Tensor grid = p.view({(r1 - r0) / bin, bin, (k1 - k0) / bin, bin});
                at::Tensor gmax = std::get<0>(std::get<0>(grid.max(3)).max(1));
                at::Tensor gsum = grid.sum({1, 3});
                pmax.slice(0, r0 / bin, r1 / bin).slice(1, k0 / bin, k1 / bin).copy_(gmax);
                psum.slice(0, r0 / bin, r1 / bin).slice(1, k0 / bin, k1 / bin).copy_(gsum);
            }
        }
        at::Tensor pmean = psum.div_(static_cast<double>(bin * bin));
        pmax = pmax.cpu().contiguous();
        pmean = pmean.cpu().contiguous();
        at::Tensor lse_cpu = lse_all.cpu().contiguous(), max_cpu = max_all.cpu().contiguous();
        c.row_lse.assign(lse_cpu.data_ptr<float>(), lse_cpu.data_ptr<float>() + n);
        c.row_max.assign(max_cpu.data_ptr<float>(), max_cpu.data_ptr<float>() + n);
        AttentionPyramid pyr;
        pyr.tokens = n;
        PooledWeights l;
        l.rows = l.cols = cells;
        l.row_edges = l.col_edges = splitEdges(0, n, cells);
        l.max.assign(pmax.data_ptr<float>(), pmax.data_ptr<float>() + pmax.numel());
        l.mean.assign(pmean.data_ptr<float>(), pmean.data_ptr<float>() + pmean.numel());
        pyr.levels.push_back(std::move(l));
        completePyramid(pyr);
        return pyr;
    } catch (const std::exception& e) {
        return Status::fail("pyramid on " + device + ": " + std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
    }
}

Status saveLongAttention(const std::string& path, const LongAttentionCapture& c, const AttentionPyramid* pyramid) {
    if (Status s = validateCapture(c); !s.isOk()) return Status::fail(path + ": " + s.error());
    if (!c.hasNormalisers()) return Status::fail(path + ": the capture has no row normalisers to save");
    const int64_t n = c.tokens, d = c.head_dim;
    std::vector<TensorToWrite> t{
        {"queries", DType::F32, {n, d}, c.queries.data(), c.queries.size() * sizeof(float)},
        {"keys", DType::F32, {n, d}, c.keys.data(), c.keys.size() * sizeof(float)},
        {"row_max", DType::F32, {n}, c.row_max.data(), c.row_max.size() * sizeof(float)},
        {"row_lse", DType::F32, {n}, c.row_lse.data(), c.row_lse.size() * sizeof(float)}};
    if (pyramid && !pyramid->levels.empty()) {
        const PooledWeights& l = pyramid->levels.front();
        if (pyramid->tokens != n || l.rows != l.cols || l.row_edges != splitEdges(0, n, l.rows))
            return Status::fail(path + ": the pyramid does not belong to this capture");
        t.push_back({"pyramid_max", DType::F32, {l.rows, l.cols}, l.max.data(), l.max.size() * sizeof(float)});
        t.push_back({"pyramid_mean", DType::F32, {l.rows, l.cols}, l.mean.data(), l.mean.size() * sizeof(float)});
    }
    std::map<std::string, std::string> meta{{"format", kFormat}, {"version", "1"}, {"causal", "1"}};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", c.scale);
    meta["scale"] = buf;
    for (const auto& [k, v] : c.info) meta["info." + k] = v;
    return writeSafetensors(path, t, meta);
}

Result<LongAttentionFile> loadLongAttention(const std::string& path) {
    Result<std::shared_ptr<SafetensorsFile>> f = SafetensorsFile::open(path);
    if (!f) return Status::fail(f.error());
    const SafetensorsFile& file = **f;
    auto fail = [&](const std::string& what) { return Status::fail(path + ": " + what); };
    const auto& meta = file.metadata();
    auto it = meta.find("format");
    if (it == meta.end() || it->second != kFormat)
        return fail("not an attnlab long-attention capture (metadata 'format' is not '" + std::string(kFormat) + "')");
    if (meta.count("version") == 0 || meta.at("version") != "1")
        return fail("unsupported capture version '" + (meta.count("version") ? meta.at("version") : std::string()) + "'");
    auto capture = std::make_shared<LongAttentionCapture>();
    LongAttentionCapture& c = *capture;
    try {
        c.scale = std::stod(meta.count("scale") ? meta.at("scale") : std::string());
    } catch (const std::exception&) {
        return fail("metadata 'scale' is missing or not a number");
    }
    auto tensor = [&](const char* name, int dims) -> const TensorView* {
        const TensorView* t = file.find(name);
        if (!t || t->dtype != DType::F32 || static_cast<int>(t->shape.size()) != dims) return nullptr;
        return t;
    };
    const TensorView* q = tensor("queries", 2);
    const TensorView* k = tensor("keys", 2);
    const TensorView* mx = tensor("row_max", 1);
    const TensorView* lse = tensor("row_lse", 1);
    if (!q || !k || !mx || !lse)
        return fail("needs F32 tensors queries [N, D], keys [N, D], row_max [N] and row_lse [N]");
    c.tokens = q->shape[0];
    c.head_dim = q->shape[1];
    if (k->shape != q->shape || mx->shape[0] != c.tokens || lse->shape[0] != c.tokens)
        return fail("queries " + std::to_string(c.tokens) + "x" + std::to_string(c.head_dim) +
                    " do not match keys / row_max / row_lse");
    auto copy = [](const TensorView* t) {
        const float* p = static_cast<const float*>(t->data);
        return std::vector<float>(p, p + t->numel());
    };
    c.queries = copy(q);
    c.keys = copy(k);
    c.row_max = copy(mx);
    c.row_lse = copy(lse);
    for (const auto& [key, v] : meta)
        if (key.rfind("info.", 0) == 0) c.info[key.substr(5)] = v;
    if (Status s = validateCapture(c); !s.isOk()) return fail(s.error());
    for (float v : c.row_lse)
        if (!std::isfinite(v)) return fail("row_lse contains a non-finite value");
    LongAttentionFile out;
    out.capture = capture;
    const TensorView* pmax = tensor("pyramid_max", 2);
    const TensorView* pmean = tensor("pyramid_mean", 2);
    if (pmax || pmean) {
        if (!pmax || !pmean || pmax->shape != pmean->shape || pmax->shape[0] != pmax->shape[1] ||
            pmax->shape[0] > c.tokens || pmax->shape[0] <= 0)
            return fail("pyramid_max/pyramid_mean must both be F32 [S, S] with S <= tokens");
        auto p = std::make_shared<AttentionPyramid>();
        p->tokens = c.tokens;
        PooledWeights l;
        l.rows = l.cols = pmax->shape[0];
        l.row_edges = l.col_edges = splitEdges(0, c.tokens, l.rows);
        l.max = copy(pmax);
        l.mean = copy(pmean);
        p->levels.push_back(std::move(l));
        completePyramid(*p);
        out.pyramid = p;
    }
    return out;
}

LongAttentionCapture synthesizeLongAttention(int64_t tokens, uint64_t seed, int64_t head_dim) {
    c10::InferenceMode guard;
    LongAttentionCapture c;
    c.tokens = tokens;
    c.head_dim = head_dim;
    c.scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    at::Generator gen = at::detail::createCPUGenerator(seed);
    auto randn = [&](std::vector<int64_t> shape) { return at::normal(0.0, 1.0, shape, gen); };
    // Pre-RoPE vectors: unit Gaussian noise plus a shared component in the 12 highest-frequency RoPE
    // pairs, which RoPE turns into a preference for nearby keys that fades within a few hundred tokens
    // (a recency band; logit +6.75 at distance 0).
    const int64_t half = head_dim / 2;
    const int64_t band_pairs = std::min<int64_t>(12, half);
    at::Tensor band = at::zeros({head_dim}, at::kFloat);
    band.narrow(0, 0, band_pairs).fill_(1.5);
    band.narrow(0, half, band_pairs).fill_(1.5);
    at::Tensor q = randn({tokens, head_dim}).add_(band);
    at::Tensor k = randn({tokens, head_dim}).add_(band);
    // Attention sink: the first key is large in the 4 lowest-frequency RoPE pairs (which barely rotate
    // over 128K positions), and every query has a component there, so token 0 is seen from everywhere
    // (logit +10: most of a row's weight at a few thousand tokens, ~10% at 128K).
    at::Tensor sink_dir = at::zeros({head_dim}, at::kFloat);
    sink_dir.narrow(0, half - 4, 4).fill_(1.0);
    sink_dir.narrow(0, head_dim - 4, 4).fill_(1.0);
    q.add_(sink_dir.mul(2.0));
    k[0] = sink_dir.mul(5.0);
    // "Retrieval" tokens: every 4099th key carries one direction that every 1031st query (from 2048) seeks.
    at::Tensor needle = randn({head_dim});
    if (tokens > 1) {
        at::Tensor every = at::arange(1, tokens, 4099, at::kLong);
        k.index_put_({every}, k.index({every}).add(needle.mul(1.5)));
    }
    if (tokens > 2048) {
        at::Tensor seekers = at::arange(2048, tokens, 1031, at::kLong);
        q.index_put_({seekers}, q.index({seekers}).add(needle.mul(1.5)));
    }
    // RoPE as Llama-3.2-1B (theta 500000, llama3 scaling factor 32 from 8192 positions), rotate-half layout.
    RopeConfig rope;
    rope.scaling = RopeScaling::Llama3;
    rope.theta = 500000.0;
    rope.factor = 32.0;
    rope.low_freq_factor = 1.0;
    rope.high_freq_factor = 4.0;
    rope.original_max_position_embeddings = 8192;
    at::Tensor inv_freq = ropeInverseFrequencies(rope, head_dim);
    at::Tensor angles = at::outer(at::arange(tokens, at::kFloat), inv_freq);
    at::Tensor cos = at::cat({angles.cos(), angles.cos()}, 1), sin = at::cat({angles.sin(), angles.sin()}, 1);
    auto rotate = [&](const at::Tensor& x) {
        const int64_t h = head_dim / 2;
        at::Tensor rot = at::cat({x.narrow(1, h, h).neg(), x.narrow(1, 0, h)}, 1);
        return (x * cos + rot * sin).contiguous();
    };
    q = rotate(q);
    k = rotate(k);
    c.queries.assign(q.data_ptr<float>(), q.data_ptr<float>() + q.numel());
    c.keys.assign(k.data_ptr<float>(), k.data_ptr<float>() + k.numel());
    c.info["source"] = "synthetic";
    c.info["seed"] = std::to_string(seed);
    c.info["shape"] = "Llama-3.2-1B head (head_dim " + std::to_string(head_dim) + ", RoPE theta 500000, llama3 x32)";
    return c;
}

namespace {
class QueryGrab : public LayerHook {
public:
    QueryGrab(int64_t layer, int64_t head, int64_t kv_head) : m_layer(layer), m_head(head), m_kv_head(kv_head) {}
    void afterAttention(int64_t layer, const at::Tensor& q, const at::Tensor&, LayerKv& kv) override {
        if (layer != m_layer) return;
        queries = q[m_head].to(at::kCPU, at::kFloat).contiguous();
        keys = kv.headKeys(m_kv_head).to(at::kCPU, at::kFloat).contiguous();
    }
    at::Tensor queries, keys;

private:
    int64_t m_layer, m_head, m_kv_head;
};
}  // namespace

Result<LongAttentionCapture> captureLongAttention(Model& model, const std::vector<int32_t>& ids, int64_t layer,
                                                  int64_t head) {
    const ModelConfig& cfg = model.config();
    if (ids.empty()) return Status::fail("the prompt is empty");
    if (layer < 0 || layer >= cfg.num_layers || head < 0 || head >= cfg.num_heads)
        return Status::fail("layer " + std::to_string(layer) + " head " + std::to_string(head) + " is outside the model (" +
                            std::to_string(cfg.num_layers) + " layers, " + std::to_string(cfg.num_heads) + " heads)");
    if (static_cast<int64_t>(ids.size()) > cfg.max_position_embeddings)
        return Status::fail("the prompt has " + std::to_string(ids.size()) + " tokens but the model's context is " +
                            std::to_string(cfg.max_position_embeddings));
    if (cfg.sliding_window > 0 && static_cast<int64_t>(ids.size()) > cfg.sliding_window)
        return Status::fail("the model uses a sliding window; long-attention captures are plain causal");
    LongAttentionCapture c;
    try {
        c10::InferenceMode guard;
        Transformer& tf = model.transformer();
        const auto n = static_cast<int64_t>(ids.size());
        const int64_t kv_head = head / (cfg.num_heads / cfg.num_kv_heads);
        QueryGrab grab(layer, head, kv_head);
        at::Tensor t_ids = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).to(tf.device());
        KvCache cache = tf.makeCache();
        tf.forward(t_ids, at::arange(n, at::TensorOptions().dtype(at::kLong).device(tf.device())), cache, nullptr, 1, &grab);
        if (!grab.queries.defined() || grab.keys.size(0) != n) return Status::fail("the prefill did not reach the layer");
        c.tokens = n;
        c.head_dim = cfg.head_dim;
        c.scale = 1.0 / std::sqrt(static_cast<double>(cfg.head_dim));
        c.queries.assign(grab.queries.data_ptr<float>(), grab.queries.data_ptr<float>() + grab.queries.numel());
        c.keys.assign(grab.keys.data_ptr<float>(), grab.keys.data_ptr<float>() + grab.keys.numel());
    } catch (const std::exception& e) {
        return Status::fail(std::string("capture: ") + e.what());
    }
    c.info["source"] = "prefill";
    c.info["model"] = model.info().dir;
    c.info["layer"] = std::to_string(layer);
    c.info["head"] = std::to_string(head);
    if (Status s = computeRowNormalisers(c); !s.isOk()) return s;
    return c;
}

}  // namespace attnlab
