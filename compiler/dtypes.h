/*
 * dtypes.h - the element types of the graph IR, defined once.
 *
 * DTYPE(id, name, block bytes, block values, what it holds) feeds the
 * DType enum and the dtypes[] table in ir.c.  A dtype is stored in
 * blocks: `block values` consecutive values along a row take `block
 * bytes`.  Every byte count of the compiler (the memory plan, --plan, the
 * generated header's weight bytes) goes through dtype_bytes; no other
 * place assumes a size.
 *
 *   Q8   a weight quantized by --quantize int8 (passes/quantize.c): blocks
 *        of 32 values along the input dimension, 32 int8 values and one
 *        float scale each: w = scale * q, scale = max|w| / 127 over the
 *        block.  The runtime's layout of a part (runtime/q8.h) is its own;
 *        this counts its content, 36 bytes for 32 values.
 */
DTYPE(F32, "f32", 4, 1, "32-bit float: activations, fp32 weights")
DTYPE(I32, "i32", 4, 1, "32-bit integer: token ids, positions")
DTYPE(Q8, "q8", 36, 32, "int8 weight blocks of 32 along a row, one f32 scale a block")
