import math

import torch

from rnn_tui.engine.clipping import grad_clipping


def params_with_grads(*grads):
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros_like(g))
        p.grad = g.clone()
        params.append(p)
    return params


def test_global_norm_not_a_sum_of_norms_and_clipped_to_theta():
    params = params_with_grads(torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0]))
    norm = grad_clipping(params, 1.0)
    assert math.isclose(norm.item(), 5.0)  # sqrt(9 + 16), not 3 + 4
    after = torch.linalg.vector_norm(torch.cat([p.grad for p in params]))
    assert math.isclose(after.item(), 1.0, rel_tol=1e-6)
    assert torch.allclose(params[0].grad, torch.tensor([0.6, 0.0]))


def test_small_gradients_untouched_and_theta_zero_is_off():
    params = params_with_grads(torch.tensor([0.3, 0.4]))
    assert math.isclose(grad_clipping(params, 1.0).item(), 0.5, rel_tol=1e-6)
    assert torch.allclose(params[0].grad, torch.tensor([0.3, 0.4]))
    big = params_with_grads(torch.tensor([30.0, 40.0]))
    assert math.isclose(grad_clipping(big, 0.0).item(), 50.0)
    assert torch.allclose(big[0].grad, torch.tensor([30.0, 40.0]))
