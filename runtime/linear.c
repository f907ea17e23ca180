/*
 * linear.c - tfrt_linear: a linear layer with its fused epilogue, spread
 * over a thread pool.
 *
 * The output columns are cut into blocks, a block never straddling two
 * parts (with glu, a block is the same columns of part 0 and part 1, which
 * the gate needs together).  Each pool task computes one block for all n
 * rows and applies the elementwise epilogue (bias, activation, gate,
 * residual) to it while it is in cache.  Rotary embedding and the cache
 * copy need whole heads and come after, row by row.
 *
 * Products:
 *   n <= TFRT_GEMV_MAX_N  our GEMV (gemv.c) into a block buffer on the
 *                         stack; the epilogue then writes y.  This is the
 *                         decode path: one pass over the weights.
 *   int8 parts (q8)       x's rows quantized per block into scratch
 *                         first, then the int8 matmul (q8_internal.h) on
 *                         blocks of at most Q8_COLS columns for up to
 *                         Q8_ROWS rows at a time, into the block buffer as
 *                         for the GEMV: the block's weights stay in cache
 *                         for every group of rows.
 *   n > TFRT_GEMV_MAX_N   OpenBLAS sgemm on the block, straight into y
 *                         (and scratch for glu's second part), bias and
 *                         residual preloaded so that sgemm adds onto them.
 *                         OpenBLAS runs single-threaded once a pool is in
 *                         use: the pool's threads are the parallelism.
 *
 * A residual that is y itself is read before y is written on the GEMV
 * path; on the sgemm path it is the accumulator sgemm adds onto, which
 * works without an activation or gate.  With one (no model does this)
 * the rows go through the GEMV path in groups, which is correct but reads
 * the weights n / TFRT_GEMV_MAX_N times.
 */
#include "tfrt.h"
#include "cpu.h"
#include "kernels_internal.h"
#include "q8_internal.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

enum {
    GEMV_BLOCK = 512,           /* most columns of a GEMV task (stack buffers) */
    Q8_COLS = 128,              /* most columns of an int8 task */
    Q8_ROWS = 16,               /* rows of x per int8 product */
    BLOCK_FLOATS = TFRT_GEMV_MAX_N * GEMV_BLOCK,   /* a block buffer */
    TASKS_PER_THREAD = 4        /* blocks per thread, for balance */
};

/* sgemm packs x again for every block it is called on: one block per
 * thread there, when the pool has more than one. */

/* ---- planning the blocks ------------------------------------------------------------ */

typedef struct {
    const TfrtLinear *op;
    float *y;
    const float *x;
    int n;
    float *scratch;             /* glu's part 1 on the sgemm path */
    const char *xq;             /* int8 parts: x quantized, rows xq_stride bytes */
    size_t xq_stride;
    int isa;
    int units;                  /* 1 with glu (a pair of parts), else parts */
    int width[TFRT_MAX_PARTS];  /* columns per block of unit u */
    int first_task[TFRT_MAX_PARTS + 1];
} LinearJob;

/* The first column of part p in y. */
static int part_column(const TfrtLinear *op, int p)
{
    int c = 0;
    for (int q = 0; q < p; q++)
        c += op->rows[q];
    return c;
}

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

/* Blocks of about cols / tasks columns, a multiple of 64 (whole cache
 * lines, SIMD strips, packed panels), at most `most`. */
static int block_width(int cols, int tasks, int most)
{
    int w = round_up((cols + tasks - 1) / tasks, 64);
    w = w < 64 ? 64 : w;
    return w > most ? most : w;
}

/* Cuts every unit (part, or glu pair) into about `tasks` blocks. */
static void plan_blocks(LinearJob *j, int tasks, int most)
{
    const TfrtLinear *op = j->op;
    j->units = op->glu ? 1 : op->parts;
    j->first_task[0] = 0;
    for (int u = 0; u < j->units; u++) {
        j->width[u] = block_width(op->rows[u], tasks, most);
        j->first_task[u + 1] = j->first_task[u] + (op->rows[u] + j->width[u] - 1) / j->width[u];
    }
}

/* Task t -> unit u and its columns [c0, c0 + cols) within the part. */
static int task_block(const LinearJob *j, int t, int *c0, int *cols)
{
    int u = 0;
    while (t >= j->first_task[u + 1])
        u++;
    *c0 = (t - j->first_task[u]) * j->width[u];
    int left = j->op->rows[u] - *c0;
    *cols = left < j->width[u] ? left : j->width[u];
    return u;
}

/* ---- elementwise epilogue ----------------------------------------------------------------- */

/* In blocks of 16, which gcc -O2 vectorizes (it leaves loops of unknown
 * length scalar); restrict: the buffers are distinct. */
static void add_to(float *restrict y, const float *restrict a, int count)
{
    int i = 0;
    for (; i + 16 <= count; i += 16)
        for (int u = 0; u < 16; u++)
            y[i + u] += a[i + u];
    for (; i < count; i++)
        y[i] += a[i];
}

static void mul_by(float *restrict y, const float *restrict a, int count)
{
    int i = 0;
    for (; i + 16 <= count; i += 16)
        for (int u = 0; u < 16; u++)
            y[i + u] *= a[i + u];
    for (; i < count; i++)
        y[i] *= a[i];
}

/* ---- the GEMV path: n <= TFRT_GEMV_MAX_N rows at a time ---------------------------------- */

/* Rows [i0, i0+g) of one block: z = x W_u (+ b), act, gate, residual,
 * into y.  The buffers hold g rows of the block, ld floats apart:
 * TFRT_GEMV_MAX_N x GEMV_BLOCK for fp32, Q8_ROWS x Q8_COLS for int8. */
static void gemv_block(const LinearJob *j, int u, int c0, int cols, int i0, int g)
{
    const TfrtLinear *op = j->op;
    float z[BLOCK_FLOATS], up[BLOCK_FLOATS];
    int ld = j->xq ? Q8_COLS : GEMV_BLOCK;
    const float *x = j->x + (size_t)i0 * op->x_stride;
    int parts = op->glu ? 2 : 1;
    for (int q = 0; q < parts; q++) {
        int p = u + q;
        float *dst = q == 0 ? z : up;
        size_t at = op->layout == TFRT_W_OUT_IN ? (size_t)c0 * op->ldw[p] : (size_t)c0;
        if (j->xq)
            tfrt_q8_matmul(j->isa, dst, (size_t)ld, op->q8[p], op->rows[p], op->in, c0, cols,
                           j->xq + (size_t)i0 * j->xq_stride, j->xq_stride, g);
        else if (op->packed[p])
            tfrt_packed_gemv(j->isa, dst, (size_t)ld, op->packed[p] + (size_t)c0 * op->in,
                             op->in, cols, x, (size_t)op->x_stride, g);
        else
            tfrt_gemv(j->isa, op->layout, dst, (size_t)ld, op->w[p] + at,
                      (size_t)op->ldw[p], x, (size_t)op->x_stride, op->in, cols, g);
        if (op->bias[p])
            for (int i = 0; i < g; i++)
                add_to(dst + (size_t)i * ld, op->bias[p] + c0, cols);
    }
    int col = op->glu ? c0 : part_column(op, u) + c0;
    for (int i = 0; i < g; i++) {
        float *zi = z + (size_t)i * ld;
        tfrt_activate(op->act, zi, zi, (size_t)cols);
        if (op->glu)
            mul_by(zi, up + (size_t)i * ld, cols);
        if (op->residual)
            add_to(zi, op->residual + (size_t)(i0 + i) * op->residual_stride + col, cols);
        memcpy(j->y + (size_t)(i0 + i) * op->y_stride + col, zi, sizeof(float) * (size_t)cols);
    }
}

static void gemv_task(void *arg, int task, int thread)
{
    const LinearJob *j = arg;
    (void)thread;
    int c0, cols, u = task_block(j, task, &c0, &cols);
    int group = j->xq ? Q8_ROWS : TFRT_GEMV_MAX_N;
    for (int i0 = 0; i0 < j->n; i0 += group)
        gemv_block(j, u, c0, cols, i0, j->n - i0 < group ? j->n - i0 : group);
}

/* ---- the int8 path: x quantized first ------------------------------------------------------ */

_Static_assert(Q8_ROWS * Q8_COLS <= BLOCK_FLOATS, "int8 blocks fit the block buffers");
_Static_assert(Q8_COLS % TFRT_Q8_PANEL == 0 && 64 % TFRT_Q8_PANEL == 0,
               "int8 blocks start on a panel");

static void quantize_task(void *arg, int i, int thread)
{
    const LinearJob *j = arg;
    (void)thread;
    tfrt_q8_quantize_act((char *)j->xq + (size_t)i * j->xq_stride, j->xq_stride,
                         j->x + (size_t)i * j->op->x_stride, (size_t)j->op->x_stride, 1,
                         j->op->in);
}

static void q8_linear(TfrtPool *pool, LinearJob *j, void *scratch)
{
    const TfrtLinear *op = j->op;
    j->xq = (const char *)(((uintptr_t)scratch + 63) / 64 * 64);
    j->xq_stride = tfrt_q8_act_row_bytes(op->in);
    tfrt_pool_run(j->n > 1 ? pool : NULL, quantize_task, j, j->n);
    plan_blocks(j, tfrt_pool_threads(pool) * TASKS_PER_THREAD, Q8_COLS);
    tfrt_pool_run(pool, gemv_task, j, j->first_task[j->units]);
}

size_t tfrt_linear_scratch_bytes(const TfrtLinear *op, int n)
{
    if (n <= 0)
        return 0;
    if (op->q8[0])
        return 64 + (size_t)n * tfrt_q8_act_row_bytes(op->in);
    return op->glu ? sizeof(float) * (size_t)n * (size_t)op->out : 0;
}

/* ---- the sgemm path ------------------------------------------------------------------------ */

/* dst (n, cols) rows ld apart = init + x W_p[:, c0:c0+cols], init being
 * dst's current contents (beta = 1): the packed GEMM where there is one,
 * else sgemm. */
static void sgemm_block(const LinearJob *j, int p, int c0, int cols, float *dst, int ld)
{
    const TfrtLinear *op = j->op;
    if (op->in <= 0)
        return;
    if (op->packed[p] && tfrt_packed_gemm(j->isa, dst, (size_t)ld,
                                          op->packed[p] + (size_t)c0 * op->in, op->in, cols,
                                          j->x, (size_t)op->x_stride, j->n))
        return;
    if (op->layout == TFRT_W_OUT_IN)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, cols, op->in, 1.0f, j->x,
                    op->x_stride, op->w[p] + (size_t)c0 * op->ldw[p], op->ldw[p], 1.0f, dst, ld);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->n, cols, op->in, 1.0f, j->x,
                    op->x_stride, op->w[p] + c0, op->ldw[p], 1.0f, dst, ld);
}

/* dst rows := bias (or 0), plus src rows when src is not NULL and not dst. */
static void preload(float *dst, int ld, const float *bias, const float *src, int src_ld,
                    int n, int cols)
{
    for (int i = 0; i < n; i++) {
        float *d = dst + (size_t)i * ld;
        if (src == dst) {
            if (bias)
                add_to(d, bias, cols);
            continue;
        }
        if (src)
            memcpy(d, src + (size_t)i * src_ld, sizeof(float) * (size_t)cols);
        else if (bias)
            memcpy(d, bias, sizeof(float) * (size_t)cols);
        else
            memset(d, 0, sizeof(float) * (size_t)cols);
        if (src && bias)
            add_to(d, bias, cols);
    }
}

static void sgemm_task(void *arg, int task, int thread)
{
    const LinearJob *j = arg;
    const TfrtLinear *op = j->op;
    (void)thread;
    int c0, cols, u = task_block(j, task, &c0, &cols);
    int col = op->glu ? c0 : part_column(op, u) + c0;
    float *y = j->y + col;
    /* Without activation or gate the residual is sgemm's starting value. */
    int plain = op->act == TFRT_ACT_NONE && !op->glu;
    const float *res = op->residual ? op->residual + col : NULL;
    preload(y, op->y_stride, op->bias[u] ? op->bias[u] + c0 : NULL, plain ? res : NULL,
            op->residual_stride, j->n, cols);
    sgemm_block(j, u, c0, cols, y, op->y_stride);
    if (op->glu) {
        float *up = j->scratch + c0;
        preload(up, op->out, op->bias[1] ? op->bias[1] + c0 : NULL, NULL, 0, j->n, cols);
        sgemm_block(j, 1, c0, cols, up, op->out);
    }
    if (plain)
        return;
    for (int i = 0; i < j->n; i++) {
        float *yi = y + (size_t)i * op->y_stride;
        tfrt_activate(op->act, yi, yi, (size_t)cols);
        if (op->glu)
            mul_by(yi, j->scratch + (size_t)i * op->out + c0, cols);
        if (res)
            add_to(yi, res + (size_t)i * op->residual_stride, cols);
    }
}

/* ---- rotary embedding and cache copy, per row ---------------------------------------------- */

typedef struct {
    const TfrtLinear *op;
    float *y;
    const int32_t *pos;
    int cache_row;
} RowJob;

static void rope_part(const TfrtLinear *op, float *part, int p, int32_t pos)
{
    int heads = op->rope_heads[p], hd = op->rows[p] / heads;
    float c[TFRT_ROPE_BLOCK], s[TFRT_ROPE_BLOCK];
    for (int j0 = 0; j0 < hd / 2; j0 += TFRT_ROPE_BLOCK) {
        int count = hd / 2 - j0 < TFRT_ROPE_BLOCK ? hd / 2 - j0 : TFRT_ROPE_BLOCK;
        tfrt_rope_angles(c, s, pos, j0, count, hd, op->rope_theta);
        tfrt_rope_heads(part, heads, hd, j0, count, c, s, op->rope_interleaved);
    }
}

static void row_task(void *arg, int i, int thread)
{
    const RowJob *r = arg;
    const TfrtLinear *op = r->op;
    (void)thread;
    float *row = r->y + (size_t)i * op->y_stride;
    for (int p = 0, col = 0; p < op->parts; col += op->rows[p], p++) {
        float *part = row + col;
        if (op->rope_heads[p] > 0)
            rope_part(op, part, p, r->pos[i]);
        if (op->cache[p])
            memcpy(op->cache[p] + (size_t)(r->cache_row + i) * op->rows[p], part,
                   sizeof(float) * (size_t)op->rows[p]);
    }
}

static int has_row_work(const TfrtLinear *op)
{
    if (op->glu)
        return 0;
    for (int p = 0; p < op->parts; p++)
        if (op->rope_heads[p] > 0 || op->cache[p])
            return 1;
    return 0;
}

/* ---- entry points ------------------------------------------------------------------------------ */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

void tfrt_linear(TfrtPool *pool, const TfrtLinear *op, float *y, const float *x, int n,
                 const int32_t *pos, int cache_row, float *scratch)
{
    if (n <= 0 || op->out <= 0)
        return;
    int threads = tfrt_pool_threads(pool);
    LinearJob j = {.op = op, .y = y, .x = x, .n = n, .scratch = scratch,
                   .isa = (int)tfrt_cpu_isa()};
    int needs_temp = (op->act != TFRT_ACT_NONE || op->glu) && op->residual == y;
    if (op->q8[0]) {
        q8_linear(pool, &j, scratch);
    } else if (n <= TFRT_GEMV_MAX_N || needs_temp) {
        /* Unpacked IN_OUT reads a run of the block's width per row: one
         * wide block per thread reads memory best. */
        int runs = op->layout == TFRT_W_IN_OUT && !op->packed[0];
        plan_blocks(&j, runs ? threads : threads * TASKS_PER_THREAD, GEMV_BLOCK);
        tfrt_pool_run(pool, gemv_task, &j, j.first_task[j.units]);
    } else {
        if (pool)
            pthread_once(&blas_once, blas_single_thread);
        int packed = op->packed[0] && j.isa == TFRT_ISA_AVX512;
        plan_blocks(&j, packed ? threads * TASKS_PER_THREAD : threads, 1 << 30);
        tfrt_pool_run(pool, sgemm_task, &j, j.first_task[j.units]);
    }
    if (has_row_work(op)) {
        RowJob r = {.op = op, .y = y, .pos = pos, .cache_row = cache_row};
        tfrt_pool_run(n > 1 ? pool : NULL, row_task, &r, n);
    }
}

/* One part, no epilogue but the bias, serial: the plain form. */
void tfrt_matmul(float *y, const float *x, const float *w, const float *bias,
                 int n, int in, int out, TfrtWeightLayout layout)
{
    TfrtLinear op = {.in = in, .out = out, .layout = layout, .parts = 1, .w = {w},
                     .rows = {out}, .ldw = {layout == TFRT_W_OUT_IN ? in : out},
                     .bias = {bias}, .x_stride = in, .y_stride = out};
    tfrt_linear(NULL, &op, y, x, n, NULL, 0, NULL);
}
