"""DINO's weighted k-NN: the vote, the cap on k, the accuracies."""
import math

import pytest
import torch

from siameseim.robustness.knn import knn_accuracy, knn_predict


def test_weighted_vote_matches_dinos_formula():
    bank = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[2.0, 0.0]])  # normalised to (1, 0): similarities 1, 0.8, 0
    scores = knn_predict(bank, labels, query, num_classes=2, k=2, temperature=0.1)
    assert scores[0].tolist() == pytest.approx([math.exp(10.0), math.exp(8.0)])
    # with all three neighbours the two class-1 votes still lose to the nearer class-0 one
    scores = knn_predict(bank, labels, query, num_classes=2, k=20, temperature=0.1)
    assert scores[0].tolist() == pytest.approx([math.exp(10.0), math.exp(8.0) + 1.0])


def test_accuracy_on_separable_clusters_and_chunking():
    generator = torch.Generator().manual_seed(0)
    centres = torch.eye(8) * 5
    train_y = torch.arange(8).repeat_interleave(10)
    train_x = centres[train_y] + torch.randn(80, 8, generator=generator)
    val_y = torch.arange(8).repeat(3)
    val_x = centres[val_y] + torch.randn(24, 8, generator=generator)
    result = knn_accuracy(train_x, train_y, val_x, val_y)
    assert result == {'top1': 100.0, 'top5': 100.0}
    shuffled = knn_accuracy(train_x, train_y[torch.randperm(80, generator=generator)], val_x, val_y)
    assert shuffled['top1'] < 50.0
    chunked = knn_predict(train_x, train_y, val_x, 8, chunk=5)
    torch.testing.assert_close(chunked, knn_predict(train_x, train_y, val_x, 8))
    with pytest.raises(ValueError, match='80 training features but 79 labels'):
        knn_predict(train_x, train_y[:79], val_x, 8)
