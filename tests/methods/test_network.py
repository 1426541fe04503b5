"""The network's inference (convolutions by BLAS, the non-local block on the engine) against
a slow, obviously correct reference on tiny images."""

import numpy as np

from nlmeans_cli.methods.network import Network, apply_network, convolve


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


def test_convolve_matches_the_definition(rng):
    x = rng.random((3, 7, 9)).astype(np.float32)
    weights = rng.normal(0, 1, (3, 3, 3, 5)).astype(np.float32)
    bias = rng.normal(0, 1, 5).astype(np.float32)
    np.testing.assert_allclose(convolve(x, weights, bias), _naive_convolve(x, weights, bias),
                               rtol=1e-5, atol=1e-5)


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
    # Equal up to float32 rounding: BLAS sums in an order that depends on the matrix size.
    for band_pixels in (23 * 1, 23 * 30, 23 * 41):
        np.testing.assert_allclose(apply_network(network, noisy, band_pixels=band_pixels),
                                   whole, rtol=0, atol=2e-6)
