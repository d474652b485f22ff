"""The benchmarks' side-by-side timing: sides take turns, the figure is the median round."""

from benchmarks.common import Turns, alternate


def test_sides_take_turns_and_each_keeps_its_own_result():
    calls = []
    value, baseline, turns = alternate(
        lambda: calls.append("value") or "v", lambda: calls.append("baseline") or "b"
    )
    assert calls == ["value", "baseline", "baseline", "value", "value", "baseline"]
    assert (value, baseline) == ("v", "b")
    assert len(turns.value_s) == len(turns.baseline_s) == 3


def test_the_figure_is_the_median_round_so_one_noisy_round_does_not_decide_it():
    turns = Turns(value_s=[1.0, 1.0, 4.0], baseline_s=[1.0, 1.1, 1.0])
    assert turns.speedup == 1.0  # rounds: 1.0, 1.1, 0.25
    assert turns.value == 1.0 and turns.baseline == 1.0
    assert "per round 1.00, 1.10, 0.25" in turns.describe()
