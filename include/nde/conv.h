/**
 * @file nde/conv.h
 * @brief Image patches for convolution and pooling layers: im2col and its
 *        adjoint col2im, built only from backend operations.
 *
 * Images are column-major (width fastest, then height): a batch of images of
 * C channels is, per sample, (W, H, C), the memory order of NCHW. A group of
 * N images of W×H (e.g. all channels of a few samples) lies contiguously,
 * image n at offset n·W·H.
 *
 * For a kernel of KW×KH taps with stride (sw, sh), zero padding (pw, ph) and
 * dilation (dw, dh), output position (ow, oh) and tap (kx, ky) read the input
 * at ix = ow·sw + kx·dw − pw, iy = oh·sh + ky·dh − ph. im2col writes, for
 * p = ow + OW·oh and k = kx + KW·ky, the element of image n at
 * col[p + ld_tap·k + ld_image·n]; taps that fall into the padding get a
 * given pad value. Two layouts are useful: ld_tap = P, ld_image = P·KW·KH
 * (each image's patch matrix (P, taps) contiguous: a sample's channels form
 * the (P, taps·C) matrix that one GEMM multiplies by a convolution kernel),
 * and ld_tap = P·N, ld_image = P (each tap a contiguous (P·N) vector:
 * pooling reduces over taps with vector operations).
 *
 * Both directions only use the backend's fill, axpy and copy_matrix, so they
 * run on every backend that has copy_matrix (all shipped ones do).
 */
#ifndef NDE_CONV_H
#define NDE_CONV_H

#include <stddef.h>

#include <nde/array.h>
#include <nde/backend.h>
#include <nde/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct nde_shape;

/** Geometry of a patch extraction (fill with nde_conv_geom_make()). */
typedef struct nde_conv_geom {
  size_t width, height;       /**< input image extents W, H */
  size_t kw, kh;              /**< kernel taps */
  size_t sw, sh;              /**< strides (>= 1) */
  size_t pw, ph;              /**< zero padding on each side */
  size_t dw, dh;              /**< dilations (>= 1) */
  size_t out_w, out_h;        /**< output extents OW, OH */
} nde_conv_geom;

/**
 * Fill @p g for a square kernel of @p kernel taps with the given stride,
 * padding and dilation on W×H images: out = (W + 2p − d·(k − 1) − 1)/s + 1.
 * NDE_EINVAL naming the quantity when an extent is 0, the stride or dilation
 * is 0, or the dilated kernel is larger than the padded input.
 */
NDE_API nde_status nde_conv_geom_make(size_t width, size_t height, size_t kernel, size_t stride,
                                      size_t padding, size_t dilation, nde_conv_geom *g);

/**
 * The channels of an image layer's per-sample @p input shape: (W, H, C)
 * gives C, (W, H) gives 1. NDE_EINVAL, saying what to put before the layer,
 * for a shape that is not an image or has 0 channels.
 */
NDE_API nde_status nde_conv_image_channels(const struct nde_shape *input, size_t *channels);

/** Output positions per image, OW·OH. */
NDE_API size_t nde_conv_positions(const nde_conv_geom *g);

/** Kernel taps, KW·KH. */
NDE_API size_t nde_conv_taps(const nde_conv_geom *g);

/**
 * Patch matrix of @p images images at @p x (image n at x + n·W·H):
 * col[p + ld_tap·k + ld_image·n] = x[n](ix, iy), or @p pad where (ix, iy)
 * is outside the image. @p col holds P·taps·images elements at those
 * offsets (the layouts above are dense). NDE_EUNSUPPORTED when the backend
 * lacks copy_matrix.
 */
NDE_API nde_status nde_im2col(nde_backend *backend, nde_dtype dtype, const nde_conv_geom *g,
                              size_t images, const void *x, double pad, size_t ld_tap,
                              size_t ld_image, void *col);

/**
 * Adjoint of nde_im2col(): dx[n](ix, iy) = Σ over every (p, k) that read
 * (ix, iy) of col[p + ld_tap·k + ld_image·n] (overwrites @p dx, W·H·images
 * elements; padding taps are dropped). @p tmp is W·H·images elements of
 * backend memory used as scratch.
 */
NDE_API nde_status nde_col2im(nde_backend *backend, nde_dtype dtype, const nde_conv_geom *g,
                              size_t images, const void *col, size_t ld_tap, size_t ld_image,
                              void *dx, void *tmp);

#ifdef __cplusplus
}
#endif
#endif /* NDE_CONV_H */
