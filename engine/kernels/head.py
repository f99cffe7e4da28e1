"""The output layer and the mean cross-entropy as one operation: ``loss(H·W_hq + b_q, y)``.

With a large vocabulary (the Tang poems: V = 5,511) this is most of a minibatch's work. Two
things make it cheaper than ``F.cross_entropy(torch.addmm(b_q, H, W_hq), y)``, with the same result:

- The logits are computed transposed, (V, N) = W_hqᵀ·Hᵀ, and every product of the backward keeps the
  large dimension first: MKL runs a thin product faster in this layout (``rnn-tui bench`` prints
  the roofline of the layout used).
- One (V, N) buffer serves throughout: the logits become exp(logit - max) in place for the
  log-sum-exp, and the backward turns them into (softmax - one-hot) / N in place. So its backward
  runs once per forward, as training does; a second one (``retain_graph``) raises autograd's error.
"""
from __future__ import annotations

import torch


class LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, y: torch.Tensor):
        # H: (N, h) hidden states; W: (h, V); b: (V,); y: (N,) int64 targets
        scores = torch.addmm(b[:, None], W.t(), H.t())  # (V, N) logits
        target_logits = scores.gather(0, y[None]).squeeze(0)
        peak = scores.amax(dim=0)
        scores.sub_(peak).exp_()  # now exp(logit - peak): softmax up to the column sums
        sums = scores.sum(dim=0)
        loss = (peak + sums.log() - target_logits).mean()
        ctx.save_for_backward(H, W, y, scores, sums)
        return loss

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        H, W, y, scores, sums = ctx.saved_tensors
        count = H.shape[0]
        # d(mean CE)/d(logits) = (softmax - one_hot) / N, built in the saved buffer
        grad_T = scores.mul_((grad_loss / count) / sums)
        grad_T.view(-1)[y * count + torch.arange(count, device=y.device)] -= grad_loss / count
        # (N, h) written row-major: a transposed (h, N) product would leave every later pass strided
        grad_H = torch.mm(grad_T.t(), W.t()) if ctx.needs_input_grad[0] else None
        grad_W = (grad_T @ H).t() if ctx.needs_input_grad[1] else None  # (h, V)
        grad_b = grad_T.sum(dim=1) if ctx.needs_input_grad[2] else None
        return grad_H, grad_W, grad_b, None


def linear_cross_entropy(H: torch.Tensor, W: torch.Tensor, b: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the logits ``H @ W + b`` (N, V) against targets ``y`` (N,)."""
    return LinearCrossEntropy.apply(H, W, b, y)
