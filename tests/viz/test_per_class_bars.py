"""viz.per_class_bars: the long-tail per-class accuracy figure."""


def test_per_class_bars_draws_one_bar_per_class_and_method_with_counts_on_the_axis():
    import pandas as pd

    from workbench import viz

    table = pd.DataFrame({"CE": [1.0, 0.5, 0.0], "LA": [0.9, 0.6, 0.3]})
    fig = viz.per_class_bars(table, [100, 10, 1], title="t")
    ax = fig.axes[0]
    assert [round(p.get_height(), 3) for p in ax.patches[:6]] == [1.0, 0.5, 0.0, 0.9, 0.6, 0.3]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0\n100", "1\n10", "2\n1"]
    assert ax.get_ylim() == (0, 1.05)
