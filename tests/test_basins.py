"""Basin maps (dynamics.basins; issue 7): every checked cell equals the single roll-out
from its start (minimiser index, end point, arrival step), on himmelblau and six-hump
camel, base and cautious; the maps are non-trivial and the mask changes some cells."""
import numpy as np
import pytest

from dynamics import Setup, make_hyper, rollout
from dynamics.basins import basin_map, changed, compiled_basins
from toys import get_toy

N, STEPS = 48, 400
CASES = {   # (toy, hp): settings under which every minimiser stays stable for these optimizers
    "himmelblau": make_hyper(lr=0.01, beta=0.9),
    "camel": make_hyper(lr=0.02, beta=0.9),
}
SETUPS = {"base": Setup("gdm"), "cautious": Setup("gdm", cautious=True, compensation="none"),
          "cautious-mean": Setup("gdm", cautious=True)}


@pytest.fixture(scope="module")
def maps():
    out = {}
    for toy_name, hp in CASES.items():
        for label in ("base", "cautious") if toy_name == "himmelblau" else ("base", "cautious-mean"):
            out[toy_name, label] = basin_map(SETUPS[label], get_toy(toy_name), hp, STEPS, n=N)
    return out


def _single_run(setup, toy_name, start, minima, radius):
    """(index, w_T, arrival) read from one roll-out, as the module docstring defines them."""
    tr = rollout(setup, get_toy(toy_name), CASES[toy_name], STEPS, start=start)
    d = np.linalg.norm(tr.w[:, None, :] - minima[None], axis=-1).min(axis=1)
    end = np.linalg.norm(tr.w[-1] - minima, axis=1)
    if end.min() >= radius:
        return -1, tr.w[-1], -1
    outside = np.nonzero(d >= radius)[0]
    return int(np.argmin(end)), tr.w[-1], int(outside[-1]) + 1 if outside.size else 0


@pytest.mark.parametrize("key", [("himmelblau", "base"), ("himmelblau", "cautious"), ("camel", "base"),
                                 ("camel", "cautious-mean")])
def test_cells_equal_single_rollouts(maps, key):
    toy_name, label = key
    bmap = maps[key]
    rng = np.random.default_rng(sum(map(ord, toy_name + label)))
    for i, j in rng.integers(0, N, size=(12, 2)):
        index, w_end, arrival = _single_run(SETUPS[label], toy_name, (bmap.x[j], bmap.y[i]), bmap.minima, bmap.radius)
        assert bmap.index[i, j] == index, (i, j)
        np.testing.assert_allclose(bmap.final[i, j], w_end, rtol=0, atol=1e-9)
        assert bmap.arrival[i, j] == arrival, (i, j)


def test_maps_are_consistent_and_non_trivial(maps):
    for (toy_name, label), bmap in maps.items():
        k = len(bmap.minima)
        assert bmap.index.shape == (N, N) and bmap.final.shape == (N, N, 2)
        assert set(np.unique(bmap.index)) <= set(range(-1, k))
        fractions = bmap.fractions()
        assert sum(fractions.values()) == pytest.approx(1.0)
        reached = bmap.index >= 0
        dist = np.linalg.norm(bmap.final[reached] - bmap.minima[bmap.index[reached]], axis=1)
        assert np.all(dist < bmap.radius)
        assert np.all(bmap.arrival[~reached] == -1) and np.all(bmap.arrival[reached] >= 0)
        assert np.all(bmap.index[bmap.diverged] == -1)
        print(f"\n{toy_name} {label}: " + ", ".join(f"{i}: {f:.3f}" for i, f in fractions.items()))
        # every listed minimiser has a basin of its own on these maps
        assert all(fractions[i] > 0.01 for i in range(k)), fractions


def test_caution_changes_some_basins(maps):
    for toy_name, label in (("himmelblau", "cautious"), ("camel", "cautious-mean")):
        moved = changed(maps[toy_name, "base"], maps[toy_name, label])
        print(f"\n{toy_name}: the mask changes the minimiser of {moved.mean():.1%} of the starts")
        assert 0.02 < moved.mean() < 0.9


def test_new_numbers_reuse_the_compiled_map(maps):
    fn = compiled_basins(SETUPS["base"], get_toy("himmelblau"))
    before = fn._cache_size()
    basin_map(SETUPS["base"], get_toy("himmelblau"), make_hyper(lr=0.005, beta=0.5), STEPS - 7, n=N)   # and new T
    assert fn._cache_size() == before


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="no listed minimiser"):
        basin_map(Setup("gdm"), get_toy("saddle"), steps=10, n=4)
    with pytest.raises(ValueError, match="n must be"):
        basin_map(Setup("gdm"), get_toy("himmelblau"), steps=10, n=1)
    with pytest.raises(ValueError, match="domain"):
        basin_map(Setup("gdm"), get_toy("himmelblau"), steps=10, n=4, domain=((1, 0), (0, 1)))
    with pytest.raises(ValueError, match="noisy"):
        basin_map(Setup("gdm", noise="gaussian"), get_toy("himmelblau"), steps=10, n=4)
