import pytest
import torch

from engine.models import RNNModel, RNNModelScratch, build_model
from engine.models.recurrence import rnn_recurrence

V, H, B, T = 11, 16, 3, 5


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T), generator=g)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_shapes_as_in_the_seeds(cell):
    net = RNNModelScratch(V, H, cell)
    state = net.begin_state(B)
    Y, new_state = net(inputs(), state)
    assert Y.shape == (T * B, V)
    assert len(new_state) == (2 if cell == "lstm" else 1)
    assert new_state[0].shape == (B, H)


def test_scratch_rnn_parameters_named_and_initialised_as_the_book():
    torch.manual_seed(0)
    net = RNNModelScratch(28, 512)
    shapes = {k: tuple(v.shape) for k, v in net.named_parameters()}
    assert shapes == {"W_xh": (28, 512), "W_hh": (512, 512), "b_h": (512,), "W_hq": (512, 28), "b_q": (28,)}
    assert 0.009 < net.W_hh.std().item() < 0.011 and net.b_h.abs().sum() == 0


def _pair(cell, activation="tanh", dtype=torch.float64):
    torch.manual_seed(1)
    fast = RNNModelScratch(V, H, cell, "fast", activation).to(dtype)
    with torch.no_grad():
        for p in fast.parameters():
            p.normal_(0, 0.5)  # large enough that every nonlinearity matters
    textbook = RNNModelScratch(V, H, cell, "textbook", activation).to(dtype)
    textbook.load_state_dict(fast.state_dict())
    return fast, textbook


@pytest.mark.parametrize("cell,activation", [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"), ("lstm", "tanh")])
def test_fast_path_equals_textbook_outputs_and_gradients(cell, activation):
    fast, textbook = _pair(cell, activation)
    X = inputs(2)
    g = torch.Generator().manual_seed(3)
    initial = tuple(torch.randn(s.shape, generator=g, dtype=s.dtype) for s in fast.begin_state(B))
    results = []
    for net in (fast, textbook):
        state = tuple(s.clone().requires_grad_(True) for s in initial)
        Y, new_state = net(X, state)
        loss = (Y * torch.linspace(-1, 1, Y.numel(), dtype=Y.dtype).view_as(Y)).sum() + new_state[0].pow(2).sum()
        loss.backward()
        results.append((Y.detach(), new_state[0].detach(), {k: p.grad for k, p in net.named_parameters()},
                        state[0].grad))
    (Y1, S1, G1, H1), (Y2, S2, G2, H2) = results
    torch.testing.assert_close(Y1, Y2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(S1, S2, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(H1, H2, rtol=1e-10, atol=1e-12)
    for name in G1:
        torch.testing.assert_close(G1[name], G2[name], rtol=1e-9, atol=1e-12, msg=name)


def test_one_hot_matmul_is_exactly_a_row_gather_in_float32():
    W = torch.randn(V, H)
    X = inputs(3)
    one_hot = torch.nn.functional.one_hot(X, V).float() @ W
    assert torch.equal(one_hot, W[X])


@pytest.mark.parametrize("relu", [False, True])
def test_hand_written_bptt_passes_gradcheck(relu):
    g = torch.Generator().manual_seed(4)
    XW = torch.randn(4, 2, 3, dtype=torch.float64, generator=g, requires_grad=True)
    H0 = torch.randn(2, 3, dtype=torch.float64, generator=g, requires_grad=True)
    W = (0.5 * torch.randn(3, 3, dtype=torch.float64, generator=g)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b, c: rnn_recurrence(a, b, c, relu), (XW, H0, W))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_scratch_cells_pass_gradcheck(cell):
    torch.manual_seed(5)
    net = RNNModelScratch(5, 4, cell, "textbook").double()
    names = [n for n, _ in net.named_parameters()]
    X = torch.randint(0, 5, (2, 3))

    def f(*params):
        out, _ = torch.func.functional_call(net, dict(zip(names, params)), (X, net.begin_state(2)))
        return out
    params = tuple(p.detach().clone().normal_(0, 0.5).requires_grad_(True) for p in net.parameters())
    assert torch.autograd.gradcheck(f, params)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("input_kind", ["onehot", "embedding"])
def test_concise_models(cell, input_kind):
    net = RNNModel(V, H, cell, num_layers=2, dropout=0.1, input_kind=input_kind)
    Y, state = net(inputs(), net.begin_state(B))
    assert Y.shape == (T * B, V)
    assert state[0].shape == (2, B, H)


def test_build_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("transformer", V, H)
