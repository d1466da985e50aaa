"""The text branch of the multimodal family: tokens -> embedding -> BiLSTM -> self-attention -> pooled vector.

Each block carries its cost beside its forward, as the image blocks do (scaler.families._blocks). The
branch runs over every one of the `max_tokens` positions (reports are padded or cut to it), so its
count is the one of a full-length report; padding is masked out of the attention and the pooling.
Counted (one report):
- embedding: vocab x dim params, 0 MACs (a table lookup), 0 activations (as BN: no arithmetic);
- BiLSTM: per direction 4h(e+h) weights + 8h biases (PyTorch keeps two bias vectors), and
  tokens x 4h(e+h) MACs per direction; activations: its tokens x 2h outputs. The two directions are
  two one-direction nn.LSTMs (the same parameters as nn.LSTM(bidirectional=True)) so that the backward
  one reads each report from its last real token, not from the padding after it;
- attention: the q, k, v projections are linear layers (counted as such); QK^T and the weighted
  sum of V are 2 x tokens^2 x d MACs, declared by a CountedOp; its activations: the tokens^2 scores.
The embedding and each LSTM direction are CountedOps too, WITH parameters: a meta trace records a
CountedOp's own parameters beside its declared MACs (scaler.complexity), so their rows carry both.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from scaler.cost import CountedOp, LayerCost

__all__ = ["PAD_ID", "UNK_ID", "TokenEmbedding", "DirectionLSTM", "BiLSTM", "ScaledDotProduct", "TextEncoder",
           "lstm_cost", "reverse_within", "token_mask"]

#: Token id of padding: the embedding keeps its row at zero, attention and pooling ignore it.
PAD_ID = 0
#: Token id of a word the vocabulary does not hold (scaler.data's tokenizer maps unknown words to it).
UNK_ID = 1


def token_mask(tokens: torch.Tensor) -> torch.Tensor:
    """N x T bool: the real (non-padding) tokens; an all-padding report keeps its first position,
    so the softmax and the mean always have something to average."""
    mask = tokens != PAD_ID
    first = torch.zeros_like(mask)
    first[:, 0] = True
    return mask | (first & ~mask.any(dim=1, keepdim=True))


class TokenEmbedding(nn.Embedding, CountedOp):
    """Word embedding with the padding row fixed at zero; counted as its params only."""

    kind = "embedding"

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__(vocab_size, dim, padding_idx=PAD_ID)

    def op_cost(self, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
        """A lookup: no MACs, no counted activations."""
        return 0, 0

    @classmethod
    def cost(cls, sheet: Any, key: str, vocab_size: int, dim: int) -> None:
        """Its table."""
        sheet.rows.append(LayerCost(key, cls.kind, vocab_size * dim, 0, 0))


def lstm_cost(tokens: int, dim: int, hidden: int) -> tuple[int, int, int]:
    """(params, MACs, activations) of ONE direction of an LSTM layer over `tokens` inputs of size `dim`."""
    weights = 4 * hidden * (dim + hidden)  # the input-to-gates and hidden-to-gates matrices
    return weights + 8 * hidden, tokens * weights, tokens * hidden


class DirectionLSTM(nn.LSTM, CountedOp):
    """One direction of the BiLSTM: a one-layer, batch-first LSTM (PyTorch's, with its two bias vectors)."""

    kind = "lstm"

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(dim, hidden, batch_first=True)

    def op_cost(self, x: torch.Tensor, y: Any) -> tuple[int, int]:
        """(MACs, activations) over the input's tokens."""
        return lstm_cost(x.shape[1], self.input_size, self.hidden_size)[1:]

    @classmethod
    def cost(cls, sheet: Any, key: str, tokens: int, dim: int, hidden: int) -> None:
        """Its weights, MACs and outputs."""
        sheet.rows.append(LayerCost(key, cls.kind, *lstm_cost(tokens, dim, hidden)))


def reverse_within(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each sequence of `x` (N x T x C) reversed over its real tokens (mask N x T), the padding left at the end.

    Its own inverse. A plain flip (nn.LSTM's bidirectional) would feed the backward direction the
    padding first, so a report's vector would depend on how much padding follows it.
    """
    lengths = mask.sum(dim=1, keepdim=True)
    positions = torch.arange(x.shape[1], device=x.device).expand_as(mask)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class BiLSTM(nn.Module):
    """A bidirectional LSTM layer over right-padded reports: the forward and backward states concatenated
    (2h per token); each direction reads the real tokens first, so padding never enters a real state."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.forward_lstm, self.backward_lstm = DirectionLSTM(dim, hidden), DirectionLSTM(dim, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ahead = self.forward_lstm(x)[0]
        back = reverse_within(self.backward_lstm(reverse_within(x, mask))[0], mask)
        return torch.cat([ahead, back], dim=-1)

    @staticmethod
    def cost(sheet: Any, key: str, tokens: int, dim: int, hidden: int) -> None:
        """Its two directions: 2 x (4h(e+h) + 8h) params, 2 x tokens x 4h(e+h) MACs."""
        for _ in range(2):
            DirectionLSTM.cost(sheet, key, tokens, dim, hidden)


class ScaledDotProduct(CountedOp):
    """softmax(Q K^T / sqrt(d)) V over the tokens, padding keys masked out; parameter-free."""

    kind = "self_attention"  # not "attention": that is the image decoders' parameter-free attention fusion

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1) @ v

    def op_cost(self, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
        """(MACs, activations): QK^T and the weighted sum, each tokens^2 x d; the tokens^2 scores."""
        return attention_cost(x.shape[1], x.shape[2])

    @classmethod
    def cost(cls, sheet: Any, key: str, tokens: int, dim: int) -> None:
        """Its declared MACs and activations."""
        sheet.op(key, cls.kind, *attention_cost(tokens, dim))


def attention_cost(tokens: int, dim: int) -> tuple[int, int]:
    """(MACs, activations) of scaled dot-product attention over `tokens` vectors of size `dim`."""
    return 2 * tokens * tokens * dim, tokens * tokens


class TextEncoder(nn.Module):
    """Embedding, BiLSTM, optional self-attention (q, k, v projections of size 2h), masked mean pool.

    `out_dim` (2h) is the width of the pooled text vector the fusion reads.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, attention: bool) -> None:
        super().__init__()
        self.out_dim = 2 * hidden_size
        self.embedding = TokenEmbedding(vocab_size, embed_dim)
        self.lstm = BiLSTM(embed_dim, hidden_size)
        self.attention = attention
        if attention:
            self.query, self.key, self.value = (nn.Linear(self.out_dim, self.out_dim) for _ in range(3))
            self.attend = ScaledDotProduct()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = token_mask(tokens)
        states = self.lstm(self.embedding(tokens), mask)
        if self.attention:
            states = self.attend(self.query(states), self.key(states), self.value(states), mask)
        weights = mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(dim=1) / weights.sum(dim=1)

    @staticmethod
    def cost(sheet: Any, key: str, tokens: int, vocab_size: int, embed_dim: int, hidden_size: int,
             attention: bool) -> int:
        """Its blocks' costs for a `tokens`-long report; returns the text vector's width."""
        TokenEmbedding.cost(sheet, key, vocab_size, embed_dim)
        BiLSTM.cost(sheet, key, tokens, embed_dim, hidden_size)
        if attention:
            for _ in range(3):
                sheet.linear(key, tokens, 2 * hidden_size, 2 * hidden_size)
            ScaledDotProduct.cost(sheet, key, tokens, 2 * hidden_size)
        return 2 * hidden_size
