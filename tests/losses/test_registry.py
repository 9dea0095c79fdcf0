import pytest
from torch import nn

from workbench import losses

FOUNDATION = {"cross_entropy": "logits", "normface": "margin", "contrastive": "pairs", "ntxent": "views"}


def test_available_is_sorted_and_has_the_foundation_losses():
    names = losses.available()
    assert names == sorted(names)
    assert set(FOUNDATION) <= set(names)


@pytest.mark.parametrize("family, name", [("classification", "cross_entropy"), ("margin", "normface"),
                                          ("pairs", "contrastive"), ("contrastive", "ntxent")])
def test_available_filters_by_family(family, name):
    names = losses.available(family=family)
    assert name in names
    assert all(losses.info(n).family == family for n in names)


def test_unknown_family_lists_valid_families():
    with pytest.raises(ValueError, match="contrastive"):
        losses.available(family="nope")


@pytest.mark.parametrize("name, kind", FOUNDATION.items())
def test_info_is_complete(name, kind):
    entry = losses.info(name)
    assert (entry.name, entry.kind) == (name, kind)
    assert entry.paper.title and 1990 < entry.paper.year < 2030
    assert entry.formula
    for pname, param in entry.params.items():
        assert param.doc, pname
        assert param.low <= param.default <= param.high, pname
    assert entry.cls.kind == kind and entry.cls.name == name


@pytest.mark.parametrize("name", FOUNDATION)
def test_get_builds_a_module_with_the_registered_defaults(name):
    extra = {"num_classes": 3, "embedding_dim": 4} if FOUNDATION[name] == "margin" else {}
    loss = losses.get(name, **extra)
    assert isinstance(loss, nn.Module)
    for pname, param in losses.info(name).params.items():
        assert getattr(loss, pname) == param.default


def test_get_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown loss 'nope'.*cross_entropy.*ntxent"):
        losses.get("nope")


def test_get_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"\['tau'\].*temperature.*reduction"):
        losses.get("ntxent", tau=0.1)


@pytest.mark.parametrize("name, bad, named", [
    ("ntxent", {"temperature": 0.0}, "temperature"),
    ("ntxent", {"temperature": -1}, "temperature"),
    ("cross_entropy", {"label_smoothing": 1.0}, "label_smoothing"),
    ("cross_entropy", {"reduction": "avg"}, "reduction"),
    ("normface", {"num_classes": 1, "embedding_dim": 2}, "num_classes"),
    ("normface", {"num_classes": 3, "embedding_dim": 2, "scale": 0}, "scale"),
])
def test_bad_hyper_parameters_name_the_argument(name, bad, named):
    with pytest.raises(ValueError, match=named):
        losses.get(name, **bad)


def test_registering_a_name_twice_fails():
    with pytest.raises(ValueError, match="already registered"):
        losses.register("ntxent", family="contrastive", kind="views", paper=losses.Paper("x", 2020),
                        formula="", params={}, reduces_over="batch")(type("Dup", (nn.Module,), {}))


def test_info_renders_as_a_card_in_notebooks():
    card = losses.info("ntxent")._repr_markdown_()
    assert "SimCLR" in card and "2020" in card
    assert f"$${losses.info('ntxent').formula}$$" in card
    assert "| `temperature` | 0.5 | [0.01, 2.0] |" in card


def test_every_registered_class_is_importable_from_losses():
    # DESIGN.md: "Every registered class is importable from workbench.losses"
    for name in losses.available():
        cls = losses.info(name).cls
        assert getattr(losses, cls.__name__) is cls, name
        assert cls.__name__ in losses.__all__, name
