/*
 * ops.h - the graph IR's operations, defined once.
 *
 * OP(name, inputs, flags, shape rule) feeds the Op enum, the name table and
 * the flag table in ir.c.  Shapes: n is the token count (symbolic), a row
 * is one token.  Inputs marked "?" may be absent (-1).
 */
OP(INPUT,      0, 0,          "ids (n,) int32: a model input")
OP(WEIGHT,     0, 0,          "a named constant from the weights file")
OP(POSITIONS,  1, 0,          "ids (n,) -> (n,) int32: pos0, pos0+1, ...")
OP(EMBED,      2, 0,          "table (V,D), ids (n,) -> (n,D): row lookup")
OP(SINUSOIDAL, 1, 0,          "pos (n,) -> (n,D): sin/cos position code")
OP(MATMUL,     3, 0,          "x (n,in), W (out,in)|(in,out), bias? (out,) -> (n,out)")
OP(LAYERNORM,  3, OPF_INPLACE, "x (n,D), gamma (D,), beta? (D,) -> (n,D)")
OP(RMSNORM,    2, OPF_INPLACE, "x (n,D), gamma (D,) -> (n,D)")
OP(ATTENTION,  3, 0,          "q (n,H*d), k (m,K*d), v (m,K*d) -> (n,H*d)")
OP(SLICE,      1, 0,          "x (n,C) -> (n,cols): columns [first, first+cols)")
OP(ADD,        2, OPF_ELEMENTWISE | OPF_INPLACE, "a (n,D), b (n,D)|(D,) -> (n,D)")
OP(MUL,        2, OPF_ELEMENTWISE | OPF_INPLACE, "a (n,D), b (n,D)|(D,) -> (n,D)")
OP(SCALE,      1, OPF_ELEMENTWISE | OPF_INPLACE, "x -> x * s")
OP(GELU,       1, OPF_ELEMENTWISE | OPF_INPLACE, "x -> x * Phi(x), exact")
OP(GELU_TANH,  1, OPF_ELEMENTWISE | OPF_INPLACE, "x -> GELU, tanh approximation")
OP(RELU,       1, OPF_ELEMENTWISE | OPF_INPLACE, "x -> max(x, 0)")
OP(SILU,       1, OPF_ELEMENTWISE | OPF_INPLACE, "x -> x * sigmoid(x)")
OP(SOFTMAX,    1, OPF_INPLACE,    "x (n,D) -> row-wise softmax")
