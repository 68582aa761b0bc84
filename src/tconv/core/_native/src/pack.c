/* pack.c: the plain strided-matrix packer (BLIS's bli_packm for a general-stride matrix).
 * The operand is seen as rows x depth (A as m x k, B transposed as n x k); each micro-panel holds
 * `width` rows, stored depth-major: dst[p * width + i], zero padded past the last row. */
#include <string.h>

#include "gemm.h"

size_t tc_dtype_size(tc_dtype dt) { return dt == TC_F32 ? sizeof(float) : sizeof(double); }

#define PACK_PANEL(T)                                                                          \
    static void pack_panel_##T(const tc_mat *a, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0,   \
                               ptrdiff_t depth, int width, T *dst, tc_pack_rm fast)            \
    {                                                                                          \
        const T *src = (const T *)a->base + r0 * a->rs + p0 * a->cs;                           \
        TC_CHECK(r0 >= 0 && r0 + rows <= a->rows && p0 >= 0 && p0 + depth <= a->cols);         \
        if (a->rs == 1 && rows == width) { /* rows contiguous: one short copy per depth step */ \
            for (ptrdiff_t p = 0; p < depth; ++p)  /* (inline: a libc memcpy call per 56 bytes */ \
                for (int i = 0; i < width; ++i)    /*  cost 8% of a GEMM) */                      \
                    dst[p * width + i] = src[p * a->cs + i];                                   \
            return;                                                                            \
        }                                                                                      \
        if (a->cs == 1 && rows == width && width <= 16 && fast) { /* the ISA's transpose */ \
            fast(src, a->rs, depth, width, dst, width);                                               \
            return;                                                                            \
        }                                                                                      \
        if (a->cs == 1 && rows == width) { /* depth contiguous: a transpose, 8 depth steps at a time */ \
            ptrdiff_t p = 0;                                                                   \
            for (; p + 8 <= depth; p += 8)                                                     \
                for (int i = 0; i < width; ++i)                                                \
                    for (int q = 0; q < 8; ++q)                                                \
                        dst[(p + q) * width + i] = src[i * a->rs + p + q];                     \
            for (; p < depth; ++p)                                                             \
                for (int i = 0; i < width; ++i)                                                \
                    dst[p * width + i] = src[i * a->rs + p];                                   \
            return;                                                                            \
        }                                                                                      \
        for (ptrdiff_t i = 0; i < rows; ++i) { /* general strides, or a partial panel */       \
            const T *s = src + i * a->rs;                                                      \
            TC_CHECK((const char *)s >= a->lo && (const char *)s < a->hi);                     \
            for (ptrdiff_t p = 0; p < depth; ++p)                                              \
                dst[p * width + i] = s[p * a->cs];                                             \
        }                                                                                      \
        for (ptrdiff_t i = rows; i < width; ++i)                                               \
            for (ptrdiff_t p = 0; p < depth; ++p)                                              \
                dst[p * width + i] = 0;                                                        \
    }

PACK_PANEL(float)
PACK_PANEL(double)

/* Rows contiguous (rs == 1, the operand read transposed): depth step by depth step across all the
 * micro-panels, so that each step reads one contiguous run of `rows` elements (a micro-panel at a
 * time would read `width` elements per step, each step a stride away: a cache line per 56 bytes). */
#define PACK_ACROSS(T)                                                                         \
    static void pack_across_##T(const tc_mat *a, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0,  \
                                ptrdiff_t depth, int width, T *dst)                            \
    {                                                                                          \
        TC_CHECK(r0 >= 0 && r0 + rows <= a->rows && p0 >= 0 && p0 + depth <= a->cols);         \
        for (ptrdiff_t p = 0; p < depth; ++p) {                                                \
            const T *s = (const T *)a->base + r0 + (p0 + p) * a->cs;                           \
            for (ptrdiff_t r = 0; r < rows; r += width) {                                      \
                T *d = dst + r * depth + p * width;                                            \
                ptrdiff_t h = rows - r < width ? rows - r : width;                             \
                for (ptrdiff_t i = 0; i < h; ++i)                                              \
                    d[i] = s[r + i];                                                           \
                for (ptrdiff_t i = h; i < width; ++i)                                          \
                    d[i] = 0;                                                                  \
            }                                                                                  \
        }                                                                                      \
    }

PACK_ACROSS(float)
PACK_ACROSS(double)

void tc_pack_strided(const tc_packer *self, ptrdiff_t r0, ptrdiff_t rows, ptrdiff_t p0, ptrdiff_t depth,
                     int width, void *dst)
{
    const tc_strided *ctx = (const tc_strided *)self->ctx;
    if (ctx->mat.rs == 1 && rows > width) {
        if (ctx->dtype == TC_F32)
            pack_across_float(&ctx->mat, r0, rows, p0, depth, width, (float *)dst);
        else
            pack_across_double(&ctx->mat, r0, rows, p0, depth, width, (double *)dst);
        return;
    }
    for (ptrdiff_t r = 0; r < rows; r += width) {
        ptrdiff_t h = rows - r < width ? rows - r : width;
        if (ctx->dtype == TC_F32)
            pack_panel_float(&ctx->mat, r0 + r, h, p0, depth, width, (float *)dst + r * depth, ctx->pack_rm);
        else
            pack_panel_double(&ctx->mat, r0 + r, h, p0, depth, width, (double *)dst + r * depth, NULL);
    }
}
