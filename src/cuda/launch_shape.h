// The CUDA launcher's grid, sized from M, N and G (host code only, no CUDA:
// tests/cuda/launch_shape_test.cc runs it and simulates the grids it gives).
#ifndef GROUPQUANT_SRC_CUDA_LAUNCH_SHAPE_H_
#define GROUPQUANT_SRC_CUDA_LAUNCH_SHAPE_H_

#include <algorithm>
#include <cstdint>

#include "src/cuda/group_quant.cuh"

namespace groupquant::detail::cuda {

// group_index entries a thread checks at most before the grid stops growing for them
// (each check is two dependent loads ahead of the thread's rows).
inline constexpr int64_t kGroupChecksPerThread = 4;

struct LaunchShape {
  int64_t blocks;  // of kBlockThreads threads
  int32_t lanes;   // threads per row (Params::lanes)
};

// M, N, G: the problem; cols: columns per vector chunk (kCols<XD>); lanes: choose_lanes'
// threads per row (at most kMaxLanesPerRow, so within a block); resident: blocks the GPU
// holds at a time (at least 1).
//
// Blocks: enough for every row's lanes and for the group_index checks
// (kGroupChecksPerThread each), never more than one wave (larger problems go
// grid-stride). Lanes: where the rows cannot fill that wave and have chunks to spare
// (a few very wide rows), each row is spread over more lanes, doubling while every lane
// keeps at least two chunks; past a block a row's lanes are whole blocks (lanes a power of
// two, the block count a multiple of lanes / kBlockThreads), which run_thread's
// tid -> (row, lane) mapping handles unchanged.
inline LaunchShape plan_launch(int64_t M, int64_t N, int64_t G, int cols, int32_t lanes,
                               int64_t resident) {
  resident = std::max<int64_t>(resident, 1);
  const int64_t wave = resident * kBlockThreads;
  const int64_t chunks = (N + cols - 1) / cols;
  int64_t l = lanes;
  while (M < wave / (2 * l) && 4 * l <= chunks) l *= 2;  // M * 2l < wave: no overflow
  const int64_t row_blocks = l <= kBlockThreads ? (M + kBlockThreads / l - 1) / (kBlockThreads / l)
                                                : M * (l / kBlockThreads);
  const int64_t check_blocks =
      (G + kBlockThreads * kGroupChecksPerThread - 1) / (kBlockThreads * kGroupChecksPerThread);
  // Past a block, whole rows of blocks: round up, or down where that leaves the wave
  // (l < wave, so at least one row's worth remains).
  const int64_t step = l > kBlockThreads ? l / kBlockThreads : 1;
  int64_t blocks = (std::max<int64_t>(row_blocks, check_blocks) + step - 1) / step * step;
  if (blocks > resident) blocks = resident - resident % step;
  return {blocks, static_cast<int32_t>(l)};
}

}  // namespace groupquant::detail::cuda

#endif  // GROUPQUANT_SRC_CUDA_LAUNCH_SHAPE_H_
