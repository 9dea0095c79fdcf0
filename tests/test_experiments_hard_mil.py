"""experiments for notebook 16: the easy/hard split of the localisation AUC, the method runner, the unit tests
of the new models (INS scored by mean and by max from one trained model)."""

import math

import pytest

from workbench import data, experiments, models


@pytest.mark.parametrize("hard", [0.0, 1.0])
def test_easy_and_hard_localisation_split_the_keys(hard):
    bags = data.digit_bags(positive_fraction=0.5, keys=(1, 3), hard=hard, n_train=8, n_test=30, seed=0)
    row = experiments.hard_instance_scores(models.MILModel(64, seed=0).eval(), bags)
    # all keys easy: the easy-key AUC is the AUC over all keys and there is no hard key; and the reverse
    same, missing = ("loc_auc_easy", "loc_auc_hard") if hard == 0.0 else ("loc_auc_hard", "loc_auc_easy")
    assert row[same] == pytest.approx(row["loc_auc"]) and math.isnan(row[missing])


def test_compare_hard_instance_methods_rows_and_kept_models():
    kept = {}
    frame = experiments.compare_hard_instance_methods(seeds=(0,), n_train=16, n_test=16, epochs=1, ins_epochs=1,
                                                      keep=kept, verbose=False)
    assert frame["method"].tolist() == list(experiments.HARD_INSTANCE_METHODS)
    assert {"auc", "loc_auc", "loc_auc_easy", "loc_auc_hard", "seconds"} <= set(frame.columns)
    assert isinstance(kept[("ins", 0)][0], models.INSModel) and kept[("mhim", 0)][0].pooling == "attention"
    with pytest.raises(ValueError, match="method"):
        experiments.train_hard_instance_method("nope", kept[("ins", 0)][1])


def test_unit_tests_of_methods_score_ins_twice():
    frame = experiments.mil_unit_tests_of_methods(("ins",), ("single_concept",), n_train=10, n_test=10, epochs=1,
                                                  verbose=False)
    assert frame["pooling"].tolist() == ["ins", "ins (max)"]
    assert frame["train_auc"].notna().all()
