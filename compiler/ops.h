/*
 * ops.h - the graph IR's operations, defined once.
 *
 * OP(name, inputs, flags, shape rule) feeds the Op enum, the name table and
 * the flag table in ir.c.  Shapes: n is the token count (symbolic), a row
 * is one token.  Inputs marked "?" may be absent (-1).  A MATMUL's residual
 * and pos, and its epilogue (activation, gated unit, rope and cache copies
 * of column parts), come from the fusion pass: y = act(x W + bias) + residual,
 * or with a gated unit (W has 2 out rows) y = act(part 0) * part 1 + residual.
 * Flags:
 *   OPF_ELEMENTWISE  each output element depends on the same input element
 *   OPF_INPLACE      the output may share its first input's memory
 *   OPF_ROWWISE      output row i depends only on input row i (and on the
 *                    row's absolute position): such ops can run on new
 *                    tokens alone once earlier ones are cached
 */
OP(INPUT,      0, OPF_ROWWISE, "ids (n,) int32: a model input")
OP(WEIGHT,     0, 0,          "a named constant from the weights file")
OP(POSITIONS,  1, OPF_ROWWISE, "ids (n,) -> (n,) int32: pos0, pos0+1, ...")
OP(EMBED,      2, OPF_ROWWISE, "table (V,D), ids (n,) -> (n,D): row lookup")
OP(SINUSOIDAL, 1, OPF_ROWWISE, "pos (n,) -> (n,D): sin/cos position code")
OP(MATMUL,     5, OPF_ROWWISE, "x (n,in), W (out,in)|(in,out), bias? (out,), residual? (n,out), pos? (n,) -> (n,out)")
OP(CONCAT,     3, 0,          "weights a, b, c? stacked along rows (axis 0) or columns (1); never stored")
OP(LAYERNORM,  3, OPF_INPLACE | OPF_ROWWISE, "x (n,D), gamma (D,), beta? (D,) -> (n,D)")
OP(RMSNORM,    2, OPF_INPLACE | OPF_ROWWISE, "x (n,D), gamma (D,) -> (n,D)")
OP(ATTENTION,  4, 0,          "q (n,H*d), k (m,K*d), v (m,K*d), rel? (B,H) -> (n,H*d)")
OP(ROPE,       2, OPF_INPLACE | OPF_ROWWISE, "x (n,H*d), pos (n,) int32 -> (n,H*d): rotary embedding")
OP(FIRST,      1, 0,          "x (n,D) -> (1,D): the first row")
OP(SLICE,      1, OPF_ROWWISE, "x (n,C) -> (n,cols): columns [first, first+cols)")
OP(ADD,        2, OPF_ELEMENTWISE | OPF_INPLACE | OPF_ROWWISE, "a (n,D), b (n,D)|(D,) -> (n,D)")
OP(MUL,        2, OPF_ELEMENTWISE | OPF_INPLACE | OPF_ROWWISE, "a (n,D), b (n,D)|(D,) -> (n,D)")
OP(SCALE,      1, OPF_ELEMENTWISE | OPF_INPLACE | OPF_ROWWISE, "x -> x * s")
OP(GELU,       1, OPF_ELEMENTWISE | OPF_INPLACE | OPF_ROWWISE, "x -> x * Phi(x), exact")
OP(GELU_TANH,  1, OPF_ELEMENTWISE | OPF_INPLACE | OPF_ROWWISE, "x -> GELU, tanh approximation")
OP(RELU,       1, OPF_ELEMENTWISE | OPF_INPLACE | OPF_ROWWISE, "x -> max(x, 0)")
OP(SILU,       1, OPF_ELEMENTWISE | OPF_INPLACE | OPF_ROWWISE, "x -> x * sigmoid(x)")
OP(TANH,       1, OPF_ELEMENTWISE | OPF_INPLACE | OPF_ROWWISE, "x -> tanh(x)")
OP(CACHE,      1, 0,          "x (n,C) -> (pos+n,C): x's rows appended to a persistent cache")
OP(SOFTMAX,    1, OPF_INPLACE | OPF_ROWWISE, "x (n,D) -> row-wise softmax")
