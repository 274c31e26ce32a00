"""Weighted k-nearest-neighbour classification of frozen features, the cheap probe of self-supervised encoders.

DINO's protocol (Caron et al., 2021, ``eval_knn.py``): L2-normalised features, cosine similarity to every
training feature, the ``k`` most similar vote for their class with weight ``exp(similarity / T)``
(k = 20, T = 0.07); the class with the largest summed weight wins.
"""
from typing import Dict

import torch
import torch.nn.functional as F

DEFAULT_K = 20
DEFAULT_TEMPERATURE = 0.07


@torch.no_grad()
def knn_predict(train_features: torch.Tensor, train_labels: torch.Tensor, features: torch.Tensor,
                num_classes: int, k: int = DEFAULT_K, temperature: float = DEFAULT_TEMPERATURE,
                chunk: int = 1024) -> torch.Tensor:
    """Class scores ``[N, num_classes]`` of ``features`` by the weighted vote of their ``k`` nearest
    ``train_features`` (cosine similarity); ``k`` is capped at the number of training samples."""
    if train_features.shape[0] != train_labels.shape[0]:
        raise ValueError(f'{train_features.shape[0]} training features but {train_labels.shape[0]} labels')
    bank = F.normalize(train_features.float(), dim=1)
    k = min(k, bank.shape[0])
    scores = []
    for start in range(0, features.shape[0], chunk):
        queries = F.normalize(features[start:start + chunk].float(), dim=1)
        similarity, index = (queries @ bank.T).topk(k, dim=1)
        votes = torch.zeros(queries.shape[0], num_classes, dtype=similarity.dtype)
        votes.scatter_add_(1, train_labels[index], (similarity / temperature).exp())
        scores.append(votes)
    return torch.cat(scores)


def knn_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor, features: torch.Tensor,
                 labels: torch.Tensor, k: int = DEFAULT_K,
                 temperature: float = DEFAULT_TEMPERATURE) -> Dict[str, float]:
    """Top-1 (and top-5 where there are more than five classes) in percent, DINO's weighted k-NN."""
    num_classes = int(max(train_labels.max(), labels.max())) + 1
    scores = knn_predict(train_features, train_labels, features, num_classes, k, temperature)
    top = scores.topk(min(5, num_classes), dim=1).indices
    result = {'top1': 100.0 * (top[:, 0] == labels).float().mean().item()}
    if num_classes > 5:
        result['top5'] = 100.0 * (top == labels[:, None]).any(dim=1).float().mean().item()
    return result
