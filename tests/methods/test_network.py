"""The network's inference (convolutions by BLAS, the non-local block on the engine) against
a slow, obviously correct reference on tiny images."""

import numpy as np
import pytest

from nlmeans_cli.engine import set_engine_threads
from nlmeans_cli.methods.convolution import (
    convolve_padded,
    padded_length,
    pointwise,
    winograd_filters,
)
from nlmeans_cli.methods.network import Network, apply_network, apply_self_ensemble


def _naive_convolve(x, weights, bias):
    size = weights.shape[0]
    r = size // 2
    channels, height, width = x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (r, r), (r, r)))
    out = np.zeros((weights.shape[3], height, width))
    for d in range(weights.shape[3]):
        for i in range(height):
            for j in range(width):
                patch = padded[:, i:i + size, j:j + size]
                out[d, i, j] = np.sum(patch * weights[:, :, :, d].transpose(2, 0, 1)) + bias[d]
    return out


def _naive_nonlocal(theta, phi, g, radius):
    """Softmax over the window of theta_i . phi_j, borders reflected (no edge repeat)."""
    _, height, width = theta.shape
    out = np.zeros_like(g, dtype=np.float64)

    def reflect(k, n):
        while k < 0 or k >= n:
            k = -k if k < 0 else 2 * (n - 1) - k
        return k

    for i in range(height):
        for j in range(width):
            logits, values = [], []
            for di in range(-radius, radius + 1):
                for dj in range(-radius, radius + 1):
                    a, b = reflect(i + di, height), reflect(j + dj, width)
                    logits.append(float(theta[:, i, j] @ phi[:, a, b]))
                    values.append(g[:, a, b])
            weights = np.exp(np.array(logits) - max(logits))
            out[:, i, j] = (weights[:, None] * np.array(values)).sum(0) / weights.sum()
    return out


def _random_network(rng, features=4, embed=3, before=1, after=1, window=5):
    def layer(cin, cout, size=3):
        return {"w": rng.normal(0, 0.4, (size, size, cin, cout)).astype(np.float32),
                "b": rng.normal(0, 0.1, cout).astype(np.float32)}

    layers = {"stem": layer(1, features), "head": layer(features, 1)}
    for k in range(before):
        layers[f"before{k}"] = layer(features, features)
    for k in range(after):
        layers[f"after{k}"] = layer(features, features)
    for name in ("theta", "phi", "g"):
        layers[name] = layer(features, embed, 1)
    layers["wz"] = layer(embed, features, 1)
    return Network(layers, window)


def _padded(maps):
    """The network's layout: zero border, three spare zero rows, one spare zero each end."""
    channels, height, width = maps.shape
    flat = np.zeros((channels, padded_length(height, width)), np.float32)
    grid = flat[:, 1:-1].reshape(channels, height + 5, width + 2)
    grid[:, 1:height + 1, 1:-1] = maps
    return flat


@pytest.mark.parametrize(("channels", "outputs", "height", "width"),
                         [(3, 5, 7, 9), (1, 4, 5, 6), (4, 1, 8, 8), (2, 3, 1, 1), (3, 2, 13, 17)])
def test_winograd_convolution_matches_the_definition(rng, channels, outputs, height, width):
    x = rng.random((channels, height, width)).astype(np.float32)
    weights = rng.normal(0, 1, (3, 3, channels, outputs)).astype(np.float32)
    bias = rng.normal(0, 1, outputs).astype(np.float32)
    expected = _naive_convolve(x, weights, bias)
    for relu in (False, True):
        flat = convolve_padded(_padded(x), winograd_filters(weights), bias, height, width,
                               relu=relu)
        want = np.maximum(expected, 0) if relu else expected
        np.testing.assert_allclose(flat, _padded(want), rtol=1e-5, atol=1e-5)
        assert flat[0, 0] == 0 and flat[0, -1] == 0  # the border stays zero


def test_convolutions_do_not_depend_on_the_thread_count(rng):
    x = rng.random((3, 30, 41)).astype(np.float32)
    weights = rng.normal(0, 1, (3, 3, 3, 4)).astype(np.float32)
    matrix = rng.normal(0, 1, (4, 3)).astype(np.float32)
    bias = rng.normal(0, 1, 4).astype(np.float32)
    results = []
    try:
        for threads in (1, 2, 3):
            set_engine_threads(threads)
            flat = convolve_padded(_padded(x), winograd_filters(weights), bias, 30, 41,
                                   relu=True)
            product = pointwise(x.reshape(3, -1), (0, 41), matrix, bias,
                                np.empty((4, 30 * 41), np.float32), (0, 41), 30, 41)
            results.append((flat, product))
    finally:
        set_engine_threads(None)
    for flat, product in results[1:]:
        np.testing.assert_array_equal(flat, results[0][0])
        np.testing.assert_array_equal(product, results[0][1])
    np.testing.assert_allclose(results[0][1], matrix @ x.reshape(3, -1) + bias[:, None],
                               rtol=1e-5, atol=1e-5)


def test_winograd_filters_refuse_other_sizes(rng):
    with pytest.raises(ValueError, match="3x3"):
        winograd_filters(rng.normal(0, 1, (5, 5, 1, 1)))


def test_network_matches_the_reference(rng):
    network = _random_network(rng)
    noisy = rng.random((9, 11)).astype(np.float32)
    layers = network.layers

    def layer(maps, name):
        return _naive_convolve(maps, layers[name]["w"], layers[name]["b"])

    x = np.maximum(layer(noisy[None].astype(np.float64), "stem"), 0)
    x = np.maximum(layer(x, "before0"), 0)
    y = _naive_nonlocal(layer(x, "theta"), layer(x, "phi"), layer(x, "g"), 2)
    x = x + layer(y, "wz")
    x = np.maximum(layer(x, "after0"), 0)
    expected = noisy - layer(x, "head")[0]
    np.testing.assert_allclose(apply_network(network, noisy), expected, rtol=1e-4, atol=1e-4)


def test_network_loads_the_trainers_arrays(rng):
    network = _random_network(rng, before=2, after=3)
    arrays = {f"{layer}/{name}": value for layer, entry in network.layers.items()
              for name, value in entry.items()}
    arrays["meta/step"] = np.array(10)
    loaded = Network.from_arrays(arrays, window=5)
    assert loaded.count("before") == 2 and loaded.count("after") == 3
    noisy = rng.random((8, 8)).astype(np.float32)
    np.testing.assert_array_equal(apply_network(loaded, noisy), apply_network(network, noisy))


def test_bands_of_rows_equal_the_whole_image(rng):
    network = _random_network(rng, before=2, after=2, window=5)
    noisy = rng.random((90, 23)).astype(np.float32)
    whole = apply_network(network, noisy, band_pixels=10**9)
    # Equal up to float32 rounding: a Winograd tile mixes all six of its input rows, so
    # the rounding of outputs near a band's edge sees rows past the receptive field.
    scale = np.abs(whole).max()
    for band_pixels in (23 * 1, 23 * 30, 23 * 41):
        np.testing.assert_allclose(apply_network(network, noisy, band_pixels=band_pixels),
                                   whole, rtol=0, atol=1e-5 * scale)


def test_the_self_ensemble_turns_with_the_image(rng):
    # Averaging the image's and its half-turn's results makes the method commute with the
    # half turn (a single pass does not: the network is not rotation invariant).
    network = _random_network(rng)
    noisy = rng.random((12, 15)).astype(np.float32)
    ensemble = apply_self_ensemble(network, noisy)
    np.testing.assert_array_equal(apply_self_ensemble(network, noisy[::-1, ::-1].copy()),
                                  ensemble[::-1, ::-1])
    single = apply_network(network, noisy)
    assert not np.allclose(apply_network(network, noisy[::-1, ::-1].copy()), single[::-1, ::-1])
    turned = apply_network(network, noisy[::-1, ::-1].copy())[::-1, ::-1]
    np.testing.assert_allclose(ensemble, (single + turned) / 2, rtol=1e-6, atol=1e-6)


def test_the_shipped_network_takes_channels_that_are_not_colours_one_by_one(rng):
    # Two stains, or the noisy channels of a colour image: each channel as a grey image
    # (the method refused anything but 1 or 3 channels).
    from nlmeans_cli import denoise

    for count, colour in ((2, True), (3, False)):  # three bands, not red, green and blue
        planes = np.clip(0.5 + rng.normal(0, 0.1, (count, 40, 48)), 0, 1)
        both = denoise(np.moveaxis(planes, 0, -1), channel_axis=-1, method="learned",
                       sigma=0.1, colour=colour)
        for channel, plane in enumerate(planes):
            np.testing.assert_array_equal(both[..., channel],
                                          denoise(plane, method="learned", sigma=0.1))
