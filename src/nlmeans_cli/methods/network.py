r"""The learned network: local convolutions and a non-local block, run without a framework.

The network is a small residual CNN that predicts the noise (DnCNN-style residual learning)
with one non-local block in Wang et al.'s residual form [1]_:

.. math::

    z_i = x_i + W_z\, y_i, \qquad
    y_i = \frac{1}{C(x)} \sum_{j \in \mathcal{W}(i)} f(\theta(x_i), \phi(x_j))\, g(x_j)

``stem`` (3x3, 1 -> F) + ReLU, ``before0..`` (3x3, F -> F) + ReLU, the block (``theta``,
``phi``, ``g`` and ``wz`` 1x1 convolutions, ``f`` any affinity of
:data:`~nlmeans_cli.formulation.AFFINITIES` with its paired normaliser ``C``, over a square
search window as in NLRN [2]_, never the whole image), ``after0..`` (3x3) + ReLU and ``head``
(3x3, F -> 1); the output is the input minus the head. A network without ``theta`` has no
block (the ablation's plain CNN).

The block runs on the engine that runs NL-means (:func:`nlmeans_cli.engine.nonlocal_operation`
with K-channel feature maps and a patch of one position); the 3x3 convolutions run by
Winograd's F(4x4, 3x3) (:mod:`~nlmeans_cli.methods.convolution`: 36 small BLAS products per
span of tiles between two Numba transforms). The trainer (:mod:`nlmeans_cli.methods.training`, JAX)
evaluates the same definition; a test holds the two equal.

A network is trained for one noise level ``sigma`` on the unit scale of 8-bit images. Another
level is brought to it by scaling the image (the noise then has the trained level), and a
colour image is denoised per channel of an orthonormal opponent space (where the noise keeps
its level and the channels are far less correlated than R, G and B), after which the chroma
takes a second non-local average whose weights come from the network's whole estimate
(:func:`guided_chroma`). The grey or luminance estimate goes through the non-local
operation twice more, its weights the estimate's own and its values the estimate and the
noisy image (:func:`refine_estimate`).

References
----------
.. [1] X. Wang, R. Girshick, A. Gupta, K. He, "Non-local Neural Networks", CVPR 2018.
.. [2] D. Liu, B. Wen, Y. Fan, C. C. Loy, T. S. Huang, "Non-Local Recurrent Network for Image
   Restoration", NeurIPS 2018.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..formulation import AFFINITIES, PATCH_KERNELS, lookup
from ..pixels import OPPONENT

__all__ = ["CHROMA_REACH", "REFINE_REACH", "Network", "apply_network", "apply_self_ensemble",
           "count_layers", "denoise_with_network", "guided_chroma", "refine_estimate"]

#: The chroma path of colour (:func:`guided_chroma`): the window radius, h in units of sigma,
#: and the share the network's own chroma keeps. Chosen on 256x256 crops of scikit-image's
#: astronaut, chelsea, coffee and rocket at sigma 25 (and checked at 15 and 50), not on the
#: colour photographs the README reports: one position compared (5x5 and 7x7 patches did
#: 0.25 dB worse), a 41x41 window. The window radius is also how far beyond the network's
#: receptive field a colour pixel's result reaches.
CHROMA_REACH = 20
CHROMA_H = 0.4
CHROMA_NETWORK_SHARE = 0.2
#: About how many pixels the chroma path and the refinement hand the engine at once (a
#: megapixel in one go).
GUIDED_BAND_PIXELS = 2**20

#: The refinement of the network's grey (or luminance) estimate by its own self-similarity
#: (:func:`refine_estimate`): the patch radius (3x3, Gaussian weights), the window radius
#: (15x15), h in units of sigma, and the share the estimate keeps. Chosen on 40 training
#: images of train400 (never the validation split) and 481x321 crops of scikit-image's
#: astronaut, chelsea, coffee, rocket and camera at sigma 25 and 50: a 21x21 window gained
#: 0.005 dB more for twice the time, h 0.1 and 0.2 sigma and an even share no more. (Five
#: settings were first scored on the validation split too: within 0.015 dB of each other.)
REFINE_PATCH_RADIUS = 1
REFINE_SEARCH_RADIUS = 7
REFINE_H = 0.15
REFINE_NETWORK_SHARE = 0.3
#: The refinement's second average, of the noisy image with weights from the estimate's 3x3
#: patches (:func:`refine_estimate`): the window radius (31x31), h at sigma 25 in units of
#: sigma and how it falls with sigma (``h = REFINE_NOISY_H (25 / sigma_255) ** 0.3 sigma``),
#: the share that average takes, and the neighbours' summed weight at which it takes all of
#: it (less in proportion: where few repeats are found, the average is mostly the pixel's
#: own noise). Chosen on the same 40 training images and 481x321 crops at sigma 15, 25 and
#: 50 (the best h there 0.6, 0.5 and 0.4 sigma; a share of 0.3 to 0.45), checked at 5, 10,
#: 35 and 75, and with sigma given 0.7 and 0.85 times the noise's and with photon noise at
#: its mean sigma, where one share everywhere lost up to 0.5 dB to the first average alone:
#: h 10 % above the best and the share by the weights' sum gave back 0.13 to 0.31 dB of it
#: for 0.01 dB or less where sigma is right. A 41x41 window gained 0.005 dB at sigma 15
#: and 25 (0.02 at 50 on 512x512 photographs) for twice the time.
REFINE_NOISY_RADIUS = 15
REFINE_NOISY_H = 0.55
REFINE_NOISY_H_FALL = 0.3
REFINE_NOISY_SHARE = 0.4
REFINE_NOISY_COUNT = 64
#: How far beyond the network's receptive field a refined pixel's result reaches.
REFINE_REACH = REFINE_PATCH_RADIUS + max(REFINE_SEARCH_RADIUS, REFINE_NOISY_RADIUS)


def count_layers(layers: dict, prefix: str) -> int:
    """Return how many of *layers* are named ``prefix0``, ``prefix1``, ..."""
    return sum(1 for name in layers if name.startswith(prefix) and name[len(prefix):].isdigit())


@dataclass(frozen=True)
class Network:
    """A trained network: its arrays by layer and what they mean.

    Attributes
    ----------
    layers : dict
        ``{layer: {"w": (kh, kw, cin, cout), "b": (cout,)}}`` for ``stem``, ``before0..``,
        ``theta``, ``phi`` (absent when the affinity shares ``phi = theta``), ``g``, ``wz``,
        ``after0..`` and ``head``. No ``theta``: no non-local block.
    window : int
        The block's odd search window side.
    affinity : str
        The block's affinity (its normaliser is the registry's pairing).
    sigma : float
        The noise level it was trained for, 0-255 scale.
    info : dict
        How it was trained (command, images, validation PSNR, seconds), JSON-able.
    """

    layers: dict
    window: int
    affinity: str = "embedded-gaussian"
    sigma: float = 25.0
    info: dict = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, arrays, **attributes) -> Network:
        """Build from ``{"layer/name": array}`` (the trainer's flat arrays).

        Keys without a ``/``, and those under ``meta/``, are not layers; *attributes* fill
        the other fields.
        """
        layers: dict = {}
        for key in arrays:
            if "/" not in key or key.startswith("meta/"):
                continue
            layer, name = key.split("/")
            layers.setdefault(layer, {})[name] = np.asarray(arrays[key], np.float32)
        return cls(layers, **attributes)

    def flat_arrays(self) -> dict[str, np.ndarray]:
        """Return the layers as ``{"layer/name": array}``, the inverse of :meth:`from_arrays`."""
        return {f"{layer}/{name}": value for layer, entry in self.layers.items()
                for name, value in entry.items()}

    def count(self, prefix: str) -> int:
        """Return how many layers are named ``prefix0``, ``prefix1``, ..."""
        return count_layers(self.layers, prefix)

    @property
    def has_block(self) -> bool:
        """Whether the network has its non-local block."""
        return "theta" in self.layers

    @property
    def reach(self) -> int:
        """Pixels either side that one output pixel reads (its receptive field's radius).

        Each 3x3 convolution adds one, the block its window's radius. Tiles with this much
        overlap give exactly the whole image's result.
        """
        convolutions = 2 + self.count("before") + self.count("after")
        return convolutions + (self.window // 2 if self.has_block else 0)

    @property
    def parameters(self) -> int:
        """The number of trained values."""
        return sum(int(value.size) for entry in self.layers.values() for value in entry.values())


#: Pixels per band of rows that :func:`apply_network` runs at once: each layer holds two
#: ``F``-channel maps of this size (64 MB at F = 32) and the block ``3 K`` more. Larger bands
#: recompute fewer overlapping rows but measured slower and less steady (2^20: 1.8 to 3.1 s
#: for both views of 1024x1024 against 1.85 to 1.96 s): their arrays are too large for the
#: allocator to reuse, and every first write to fresh memory faults.
BAND_PIXELS = 2**18


def apply_network(network: Network, noisy: np.ndarray, *, band_pixels: int = BAND_PIXELS,
                  workspace=None) -> np.ndarray:
    """Run the network on one grey plane at its trained noise level.

    Parameters
    ----------
    network : Network
        The trained arrays.
    noisy : numpy.ndarray
        ``(H, W)``, unit scale, noise of the network's level.
    band_pixels : int
        A larger image runs in bands of rows of about this many pixels, each read with
        ``network.reach`` rows either side, so that the result equals the whole image's up
        to float32 rounding (a Winograd tile mixes all of its input rows, so the rounding,
        not the value, of outputs next to a band's edge sees the rows past it).
    workspace : nlmeans_cli.engine.Workspace, optional
        Arrays to reuse for the bands' maps (shared by the calls of one run); else one of
        its own.

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``: the input minus the predicted noise.

    Notes
    -----
    Cost: ``O(H W F^2 9)`` per 3x3 layer plus the block's ``O(H W K S)`` for ``S`` window
    positions (half of them when ``phi = theta``), and the bands' overlap. Memory: about
    ``2 F + 3 K`` float32 maps of a band's size, whatever the image's size.
    """
    workspace = _shared(workspace)
    height, width = noisy.shape
    halo = network.reach
    # At least 8 halos tall, so that wide images do not recompute more than a quarter.
    rows = max(band_pixels // max(width, 1), 8 * halo, 1)
    if height <= rows + 2 * halo:
        return _run_layers(network, noisy, workspace)
    out = np.empty((height, width), np.float32)
    for top, bottom, lo, hi in _bands(height, rows, halo):
        out[top:bottom] = _run_layers(network, noisy[lo:hi], workspace)[top - lo:bottom - lo]
    return out


def _bands(height: int, rows: int, halo: int):
    """Yield ``(top, bottom, lo, hi)``: bands of *rows* rows, each read with *halo* either side."""
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        yield top, bottom, max(top - halo, 0), min(bottom + halo, height)


def _run_layers(network: Network, noisy: np.ndarray, workspace) -> np.ndarray:
    """Run every layer on a whole plane ``(H, W)``.

    The feature maps stay in one padded layout from layer to layer
    (:class:`~nlmeans_cli.methods.convolution.PaddedMaps`), which the 3x3 layers read and
    write with no copies between layers.
    """
    from ..engine import nonlocal_operation
    from .convolution import PaddedMaps

    layers = network.layers
    height, width = noisy.shape
    grid = PaddedMaps(height, width, workspace)
    x = grid.convolve(grid.pad(np.asarray(noisy, np.float32)[np.newaxis]), layers["stem"],
                      relu=True)
    for k in range(network.count("before")):
        x = grid.convolve(x, layers[f"before{k}"], relu=True)
    if network.has_block:
        spec = lookup(AFFINITIES, network.affinity, "affinity")
        radius = network.window // 2

        names = ["theta", "g"] if spec.symmetric else ["theta", "phi", "g"]
        # One pass over the features for all three embeddings (the maps are read once),
        # written padded for the engine where the window fits the plane (no copy: 7 % of a
        # network pass on a megapixel).
        margin = radius if min(height, width) > radius else 0
        embedded = dict(zip(names, grid.pointwise(x, [layers[name] for name in names],
                                                  margin=margin), strict=True))
        y = nonlocal_operation(embedded["theta"], embedded.get("phi"), embedded["g"],
                               affinity=spec.name, normaliser=spec.normaliser,
                               patch_radius=(0, 0, 0), search_radius=(radius, 0, radius),
                               scale=1.0, bias=0.0, h=1.0, workspace=workspace,
                               padded=margin > 0)[:, :, 0, :]
        grid.add_pointwise(x, y, layers["wz"])
    for k in range(network.count("after")):
        x = grid.convolve(x, layers[f"after{k}"], relu=True)
    noise = grid.inside(grid.convolve(x, layers["head"], relu=False))[0]
    return (noisy - noise).astype(np.float32)


def apply_self_ensemble(network: Network, noisy: np.ndarray, *, workspace=None) -> np.ndarray:
    """Average the network's results on a plane and on its half-turn rotation.

    Parameters
    ----------
    network : Network
        The trained arrays.
    noisy : numpy.ndarray
        ``(H, W)``, unit scale, noise of the network's level.
    workspace : nlmeans_cli.engine.Workspace, optional
        Arrays to reuse (as :func:`apply_network` takes them).

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)``.

    Notes
    -----
    A self-ensemble (as in Lim et al.'s EDSR+ [3]_): the network is not rotation invariant,
    so its errors on the two views are partly independent, and their mean is better (on the
    validation split at sigma 25, 27.89 dB against 27.84 for one view; four views give
    27.91). Cost: two :func:`apply_network`.

    References
    ----------
    .. [3] B. Lim, S. Son, H. Kim, S. Nah, K. M. Lee, "Enhanced Deep Residual Networks for
       Single Image Super-Resolution", CVPRW 2017.
    """
    workspace = _shared(workspace)
    upright = apply_network(network, noisy, workspace=workspace)
    turned = apply_network(network, np.ascontiguousarray(noisy[::-1, ::-1]),
                           workspace=workspace)[::-1, ::-1]
    return (upright + turned) * np.float32(0.5)  # float32 throughout


def denoise_with_network(planes: np.ndarray, sigma: float, network: Network) -> np.ndarray:
    """Denoise a grey or colour image of any noise level with a network trained for one.

    Parameters
    ----------
    planes : numpy.ndarray
        ``(C, H, W)`` unit-scale pixels, ``C`` 1 (grey) or 3 (RGB).
    sigma : float
        The noise standard deviation, unit scale.
    network : Network
        The network.

    Returns
    -------
    numpy.ndarray
        float32, the shape of *planes*.

    Raises
    ------
    ValueError
        For a channel count other than 1 or 3.

    Notes
    -----
    The image is multiplied by ``network.sigma / (255 sigma)`` so that its noise has the
    trained level, and divided back after. Colour goes through the orthonormal opponent
    transform (the noise keeps its level on every channel); the two chroma channels, centred
    on 0, are lifted to mid-grey while the network sees them, and then take
    :func:`guided_chroma`. The grey (or luminance) estimate takes :func:`refine_estimate`.
    Cost: one :func:`apply_self_ensemble` (two network passes) per channel, two engine calls
    (a 15x15 and a 31x31 window), and for colour one more over a 41x41 window. A noiseless
    image is returned as it is.
    """
    channels = planes.shape[0]
    if channels not in (1, 3):
        raise ValueError(f"the learned method takes 1 or 3 channels, got {channels}")
    if sigma <= 0:
        return planes.astype(np.float32, copy=True)
    factor = network.sigma / 255.0 / sigma
    work = planes.astype(np.float64)
    if channels == 3:
        work = np.tensordot(OPPONENT, work, axes=1)
    lift = np.array([0.0, 0.5, 0.5])[:channels]
    workspace = _shared(None)
    out = np.empty_like(work)
    for c in range(channels):
        scaled = (work[c] * factor + lift[c]).astype(np.float32)
        out[c] = (apply_self_ensemble(network, scaled, workspace=workspace) - lift[c]) / factor
    out[0] = refine_estimate(out[0], work[0], sigma)
    if channels == 3:
        out[1:] = guided_chroma(out, work, sigma)
        out = np.tensordot(OPPONENT.T, out, axes=1)
    return out.astype(np.float32)


def guided_chroma(estimate: np.ndarray, noisy: np.ndarray, sigma: float, *,
                  band_pixels: int = GUIDED_BAND_PIXELS) -> np.ndarray:
    """Average the noisy chroma with weights from a colour estimate, and mix in its chroma.

    ``y_i = 1/C sum_j f(e_i, e_j) g_j`` with ``f`` the Gaussian affinity of the estimate
    ``e``'s colours (all three opponent channels, one position compared), ``g`` the noisy
    chroma and a 41x41 window: the non-local operation with its weights from the first
    estimate, where the network denoised each chroma channel on its own. The result is
    ``(1 - s) y + s e_chroma``, ``s`` = :data:`CHROMA_NETWORK_SHARE`.

    Parameters
    ----------
    estimate : numpy.ndarray
        ``(3, H, W)`` the estimate, opponent channels (luminance first), unit scale.
    noisy : numpy.ndarray
        ``(3, H, W)`` the noisy image in the same space.
    sigma : float
        The noise standard deviation, unit scale (h is :data:`CHROMA_H` times it).
    band_pixels : int
        About how many pixels go to the engine at once: bands of rows, each read with
        :data:`CHROMA_REACH` rows either side, so the memory stays bounded and the result is
        the whole image's, bit for bit (each target sums the same terms in the same order).

    Returns
    -------
    numpy.ndarray
        ``(2, H, W)`` float64, the chroma channels.

    Notes
    -----
    Cost: ``O(H W)`` times the 1681 offsets, each comparing 3 values and summing 2, in one
    engine call per band. A constant image stays constant.
    """
    # The mean squared difference over the three channels, at one position.
    return _guided_average(estimate, noisy[1:], _keeping(estimate[1:], CHROMA_NETWORK_SHARE),
                           CHROMA_REACH, band_pixels, affinity="gaussian",
                           patch_radius=(0, 0, 0), search_radius=(CHROMA_REACH, 0, CHROMA_REACH),
                           scale=1.0 / 3, bias=0.0, h=CHROMA_H * sigma)


def refine_estimate(estimate: np.ndarray, noisy: np.ndarray, sigma: float, *,
                    band_pixels: int = GUIDED_BAND_PIXELS) -> np.ndarray:
    """Average an estimate and the noisy image over the estimate's similar patches.

    Two non-local operations whose weights come from the network's estimate ``e``, which
    find the repeats of a structure that lie beyond the network's receptive field (as BM3D's
    block matching does):

    - ``u_i = 1/C sum_j f(e_i, e_j) e_j``, ``f`` the Gaussian affinity of the estimate's 3x3
      patches (Gaussian-weighted) at h = :data:`REFINE_H` sigma over a 15x15 window, mixed
      as ``r = (1 - s) u + s e``, ``s`` = :data:`REFINE_NETWORK_SHARE`;
    - ``v_i = 1/C sum_j f(e_i, e_j) x_j``, the noisy image ``x`` averaged over a 31x31
      window with the same patch comparison at h = :data:`REFINE_NOISY_H`
      ``(25 / sigma_255) ** 0.3`` sigma (as BM3D's second step takes the noisy values of
      the blocks its first estimate matched), whose noise is independent of the network's
      errors.

    The result is ``(1 - t) r + t v``, ``t = T min(1, (S - 1) / K)`` with ``S`` the sum of
    the weights (1 for the pixel itself), ``T`` = :data:`REFINE_NOISY_SHARE` and ``K`` =
    :data:`REFINE_NOISY_COUNT`: where the estimate finds few repeats, ``v`` is mostly the
    pixel's own noise, and it takes less.

    Parameters
    ----------
    estimate : numpy.ndarray
        ``(H, W)``, unit scale.
    noisy : numpy.ndarray
        ``(H, W)``, the image the estimate came from, unit scale.
    sigma : float
        The noise standard deviation of *noisy*, unit scale.
    band_pixels : int
        About how many pixels go to the engine at once: bands of rows, each read with
        :data:`REFINE_REACH` rows either side (the result is the whole image's, bit for bit).

    Returns
    -------
    numpy.ndarray
        float64 ``(H, W)``.

    Notes
    -----
    After the two views, at sigma 25, the first average gains 0.02 to 0.04 dB on the
    validation split, 0.13 dB on 481x321 crops of smooth photographs and 0.17 dB on 512x512
    ones; the second 0.02, 0.07 and 0.11 dB more (README). Cost: ``O(H W)`` times the
    113 and 480 offsets of half the 15x15 and 31x31 windows, each summing a 3x3 patch:
    about a fifth of the network's two passes. A constant image
    stays constant.
    """
    radius, search = REFINE_PATCH_RADIUS, REFINE_SEARCH_RADIUS
    weights = tuple(np.asarray(PATCH_KERNELS["gaussian"].weights(r), np.float32)
                    for r in (radius, 0, radius))
    plane = estimate[np.newaxis]
    # The Gaussian-weighted mean squared difference over the patch.
    compare = {"affinity": "gaussian", "patch_radius": (radius, 0, radius),
               "scale": 1.0 / (2 * radius + 1) ** 2, "bias": 0.0, "patch_weights": weights}
    refined = _guided_average(plane, plane, _keeping(plane, REFINE_NETWORK_SHARE),
                              REFINE_REACH, band_pixels, search_radius=(search, 0, search),
                              h=REFINE_H * sigma, **compare)
    wide = REFINE_NOISY_RADIUS
    h = REFINE_NOISY_H * (25.0 / (255.0 * sigma)) ** REFINE_NOISY_H_FALL * sigma

    def mix(averaged, rows):
        # The weights' sum: 1 (the pixel itself) plus what its neighbours weigh.
        average, weights = averaged
        share = REFINE_NOISY_SHARE * np.clip((weights - 1) / REFINE_NOISY_COUNT, 0, 1)
        return (share * average + (1 - share) * refined[0, rows])[np.newaxis]

    return _guided_average(plane, noisy[np.newaxis], mix, REFINE_REACH, band_pixels,
                           weight_sums=True, search_radius=(wide, 0, wide), h=h,
                           **compare)[0]


def _guided_average(guide, values, mix, halo, band_pixels, **operation):
    """Return ``mix`` of the engine's average of *values*, band by band.

    *guide* ``(C, H, W)`` gives the weights, *values* ``(V, H, W)`` are averaged (the guide
    itself, and then symmetric, when it is the same array); ``mix(y, rows)`` turns a band's
    output ``y`` (float64 ``(V, rows, W)``, the weights' sums after them where *operation*
    asks for them) into the band's ``(V, rows, W)`` result; *operation* goes to
    :func:`nlmeans_cli.engine.nonlocal_operation`. Bands of about *band_pixels* pixels, each
    read with *halo* rows either side, are mixed one by one, so no temporary is the image's
    size and the result is the whole image's, bit for bit.
    """
    from ..engine import nonlocal_operation

    height, width = guide.shape[1:]
    # At least twice the halo tall, so that no band is shorter than the window it reads.
    rows = max(2 * halo + 1, band_pixels // max(width, 1))
    out = np.empty((values.shape[0], height, width), np.float64)
    for top, bottom, lo, hi in _bands(height, rows, halo):
        left = np.ascontiguousarray(guide[:, lo:hi], np.float32)[:, :, np.newaxis, :]
        averaged = (left if values is guide else
                    np.ascontiguousarray(values[:, lo:hi], np.float32)[:, :, np.newaxis, :])
        part = nonlocal_operation(left, None, averaged, **operation)
        out[:, top:bottom] = mix(part[:, top - lo : bottom - lo, 0, :].astype(np.float64),
                                 slice(top, bottom))
    return out


def _keeping(kept, share):
    """Return the mix ``(1 - share) y + share kept`` for :func:`_guided_average`."""
    def mix(averaged, rows):
        averaged *= 1 - share
        averaged += share * kept[:, rows]
        return averaged

    return mix


def _shared(workspace):
    """Return the workspace a run's passes share: the one given, else a new one."""
    # Imported here: the engine loads Numba, which `nlm --help` must not wait for.
    from ..engine import Workspace

    return workspace if workspace is not None else Workspace()
