// Attention of one head over a long prompt (issue 7, "Long contexts") without an N x N matrix:
// the head's post-RoPE queries and keys [N, D] plus each row's softmax normalisers (max and
// log-sum-exp) are kept; exact weights of any tile are recomputed from them on demand, and a
// pooled pyramid (max and mean of the exact weights) gives the overview. Memory is O(N * D + S^2)
// for a pyramid of S x S cells; time is block-wise O(N^2 * D) for the normalisers and pyramid and
// O(rows * cols * D) for a tile. Causal: query i sees keys 0..i (positions are token indices).
//
// Torch-free header (LibTorch only in the .cpp). Functions are thread-safe for distinct outputs:
// the view computes tiles on its own worker thread from a capture it never modifies.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/util/result.h"

namespace attnlab {

class Model;

struct LongAttentionCapture {
    int64_t tokens = 0;    // N
    int64_t head_dim = 0;  // D
    double scale = 0;      // softmax scale applied to q.k (usually 1/sqrt(D))
    std::vector<float> queries;  // [N, D] row-major, after RoPE
    std::vector<float> keys;     // [N, D] row-major, after RoPE (the query head's KV head)
    // Row normalisers, [N] each (empty until computeRowNormalisers): row_max[i] = max_{j<=i} s_ij and
    // row_lse[i] = log sum_{j<=i} exp(s_ij) with s_ij = scale * q_i . k_j, so w_ij = exp(s_ij - row_lse[i]).
    std::vector<float> row_max;
    std::vector<float> row_lse;
    std::map<std::string, std::string> info;  // provenance: source, model, layer, head, prompt

    bool hasNormalisers() const { return static_cast<int64_t>(row_lse.size()) == tokens && tokens > 0; }
};

// Pooled exact weights over a grid of cells. Cell r spans rows [row_edges[r], row_edges[r+1]),
// cell c spans columns [col_edges[c], col_edges[c+1]). max: largest visible weight in the cell (0 when
// the whole cell is above the diagonal); mean: sum of weights / (cell rows * cell cols), masked
// entries counting as 0 (the area mean, so coarser levels are exact area-weighted means of finer ones).
struct PooledWeights {
    int64_t rows = 0;
    int64_t cols = 0;
    std::vector<int64_t> row_edges;  // rows + 1 token indices
    std::vector<int64_t> col_edges;  // cols + 1 token indices
    std::vector<float> max;          // [rows, cols]
    std::vector<float> mean;         // [rows, cols]

    bool isExact() const;  // every cell is one entry
    size_t bytes() const;
};

// levels[0] is the finest (finest_cells^2 cells, or N^2 when N is smaller), each next level halves
// the cells per side (2 x 2 merged) down to a single cell.
struct AttentionPyramid {
    int64_t tokens = 0;
    std::vector<PooledWeights> levels;
    size_t bytes() const;
};

constexpr int64_t kDefaultPyramidCells = 2048;

// Even split of [begin, end) into `cells` parts: edge k = begin + floor(k * (end - begin) / cells).
std::vector<int64_t> splitEdges(int64_t begin, int64_t end, int64_t cells);

// Checks shapes and values (finite, scale > 0); a message names what is wrong.
Status validateCapture(const LongAttentionCapture& capture);

// Fills row_max and row_lse, `block_rows` query rows at a time against key blocks (no N x N).
// cancel (optional) is checked between blocks.
Status computeRowNormalisers(LongAttentionCapture& capture, int64_t block_rows = 512,
                             const std::atomic<bool>* cancel = nullptr);

// Max and mean pooling of the exact weights of rows [r0, r1) x columns [c0, c1) into out_rows x
// out_cols cells (clamped to the range's size, so a small range gives exact weights). Needs the
// normalisers. Cost O((r1 - r0) * visible columns * D).
Result<PooledWeights> computePooledTile(const LongAttentionCapture& capture, int64_t r0, int64_t r1, int64_t c0,
                                        int64_t c1, int64_t out_rows, int64_t out_cols,
                                        const std::atomic<bool>* cancel = nullptr);

// Exact weights of rows [r0, r1) x columns [c0, c1), row-major; entries above the diagonal are 0.
Result<std::vector<float>> computeTile(const LongAttentionCapture& capture, int64_t r0, int64_t r1, int64_t c0,
                                       int64_t c1);

// One exact weight (O(D)); 0 above the diagonal.
float exactWeight(const LongAttentionCapture& capture, int64_t row, int64_t col);

// The pyramid: level 0 pooled block-wise from the exact weights, coarser levels merged from it.
Result<AttentionPyramid> buildPyramid(const LongAttentionCapture& capture, int64_t finest_cells = kDefaultPyramidCells,
                                      const std::atomic<bool>* cancel = nullptr);
// The same on a LibTorch device ("cuda", "cuda:1"; "cpu" runs the same tensor code): q/k are copied
// there once, normalisers (filled into `capture`) and pyramid are computed with tensor reductions.
// Needs N divisible by the finest cell count (cells of equal size); fails otherwise or when the
// device is not available in this LibTorch.
Result<AttentionPyramid> buildPyramidOnDevice(LongAttentionCapture& capture, const std::string& device,
                                              int64_t finest_cells = kDefaultPyramidCells);
// Coarser levels from levels[0] alone (used after loading a capture that stores only the finest level).
void completePyramid(AttentionPyramid& pyramid);

// Capture file: safetensors with F32 tensors "queries" [N, D], "keys" [N, D], "row_max" [N],
// "row_lse" [N] and, when a pyramid is given, "pyramid_max"/"pyramid_mean" [S, S] (its finest level;
// its edges follow splitEdges(0, N, S)). Metadata: format "attnlab.long_attention", version "1",
// scale, causal "1", and the capture's info entries prefixed "info.".
Status saveLongAttention(const std::string& path, const LongAttentionCapture& capture,
                         const AttentionPyramid* pyramid = nullptr);
struct LongAttentionFile {
    std::shared_ptr<LongAttentionCapture> capture;
    std::shared_ptr<AttentionPyramid> pyramid;  // null when the file has none
};
Result<LongAttentionFile> loadLongAttention(const std::string& path);

// Synthetic queries/keys shaped like a Llama-3.2-1B head (head_dim 64, RoPE theta 500000 with llama3
// scaling to 128K, applied like the engine's): Gaussian noise, a shared component in the
// high-frequency RoPE pairs (a recency band), a heavy first key in the low-frequency pairs (an
// attention sink), and sparse repeated "retrieval" keys that some queries seek. Seeded. Used for
// 128K captures because a 128K-token CPU prefill is far too slow; not a trained model's statistics.
LongAttentionCapture synthesizeLongAttention(int64_t tokens, uint64_t seed = 1, int64_t head_dim = 64);

// One head of a real prefill: runs the model's full-attention prefill over `ids` and keeps layer
// `layer`, query head `head`'s post-RoPE queries and its KV head's keys (then the normalisers).
Result<LongAttentionCapture> captureLongAttention(Model& model, const std::vector<int32_t>& ids, int64_t layer,
                                                  int64_t head);

}  // namespace attnlab
