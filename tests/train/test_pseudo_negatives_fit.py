"""train.pseudo_negative_batch_loss: one-class training against Gaussian pseudo-negatives (Hyp-OC)."""

import torch

from workbench import analysis, data, losses, models, train


def test_the_batch_is_joined_by_as_many_pseudo_negatives_labelled_one():
    seen = {}

    class Spy(torch.nn.Module):
        def forward(self, embeddings, labels):
            seen["rows"], seen["labels"] = embeddings.shape[0], labels.clone()
            return embeddings.sum() * 0

    sampler = losses.PseudoNegatives(alpha=0.0, std_dev=1e-12)  # draws sit on the batch mean
    step = train.pseudo_negative_batch_loss(sampler)
    x = torch.arange(12.0).view(4, 3)
    model = torch.nn.Identity()
    step(model, Spy(), x, torch.zeros(4, dtype=torch.long), torch.Generator().manual_seed(0))
    assert seen["rows"] == 8 and seen["labels"].tolist() == [0] * 4 + [1] * 4


def test_hyp_oc_training_learns_to_tell_its_class_from_the_rest():
    one = data.one_class(data.digits(seed=0), normal=1)
    encoder = models.MLP(64, embedding_dim=2, hidden=(64,), seed=0)
    torch.manual_seed(0)
    head = losses.get("hyp_pc", num_classes=2, embedding_dim=2)
    train.fit(encoder, head, one, epochs=3, lr=3e-3, batch_size=32, seed=0, verbose=False, record=(),
              batch_loss=train.pseudo_negative_batch_loss(losses.PseudoNegatives()))
    with torch.no_grad():
        logits = head.logits(encoder(one.X_test))
    # a detector that never saw another digit still ranks them above the 1s (0.5 would be chance)
    assert analysis.binary_metrics(logits[:, 1] - logits[:, 0], one.y_test)["roc_auc"] > 0.8
