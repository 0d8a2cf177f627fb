"""The MoE shapes the torch-level benchmarks run: bench_op.py (CPU) and bench_cuda.py (GPU).

Each is (name, M, N, G, x dtype, output "int8" or "int4", kind "large" or "decode"):
prefill-sized batches, where bandwidth is the measure, and decode-sized ones, where the
fixed cost of a call is.
"""

SHAPES = [
    ("8192x7168 G32 bf16->int8", 8192, 7168, 32, "bfloat16", "int8", "large"),
    ("8192x7168 G32 bf16->int4", 8192, 7168, 32, "bfloat16", "int4", "large"),
    ("16384x4096 G16 fp16->int8", 16384, 4096, 16, "float16", "int8", "large"),
    ("4096x4096 G8 fp32->int8", 4096, 4096, 8, "float32", "int8", "large"),
    ("decode 32x7168 G16 bf16->int8", 32, 7168, 16, "bfloat16", "int8", "decode"),
    ("decode 8x2048 G8 bf16->int8", 8, 2048, 8, "bfloat16", "int8", "decode"),
]

# The GPU also runs 256 experts over 64K rows (too slow for the CPU benchmark's rounds).
GPU_SHAPES = (
    SHAPES[:4]
    + [("65536x2048 G256 bf16->int8", 65536, 2048, 256, "bfloat16", "int8", "large")]
    + SHAPES[4:]
)
