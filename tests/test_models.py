import pytest
import torch

from rnn_tui.engine.kernels import linear_cross_entropy
from rnn_tui.engine.kernels.recurrence import rnn_recurrence
from rnn_tui.engine.models import RNNModel, RNNModelScratch, build_model
from helpers import skip_unless_bf16_trains

V, H, B, T = 11, 16, 3, 5


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T), generator=g)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_shapes_as_in_d2l(cell):
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


@pytest.mark.parametrize("cell,activation", [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"), ("lstm", "tanh")])
def test_training_loss_of_fast_path_equals_textbook_cross_entropy_and_gradients(cell, activation):
    fast, textbook = _pair(cell, activation)
    X, Y = inputs(4), inputs(5)
    results = []
    for net in (fast, textbook):
        loss, _ = net.loss(X, Y, net.begin_state(B, torch.device("cpu")))
        loss.backward()
        results.append((loss.detach(), {k: p.grad for k, p in net.named_parameters()}))
    logits, _ = textbook(X, textbook.begin_state(B))
    reference = torch.nn.functional.cross_entropy(logits, Y.T.reshape(-1))
    torch.testing.assert_close(results[0][0], reference, rtol=1e-12, atol=0)
    torch.testing.assert_close(results[1][0], reference, rtol=1e-12, atol=0)
    for name, grad in results[0][1].items():
        torch.testing.assert_close(grad, results[1][1][name], rtol=1e-9, atol=1e-12, msg=name)


def test_fused_output_layer_and_cross_entropy_match_torch_values_and_gradients():
    g = torch.Generator().manual_seed(6)
    Hs = torch.randn(7, 4, dtype=torch.float64, generator=g, requires_grad=True)
    W = torch.randn(4, 9, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(9, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randint(0, 9, (7,), generator=g)
    reference = torch.nn.functional.cross_entropy(torch.addmm(b, Hs, W), y)
    expected = torch.autograd.grad(reference * 3, (Hs, W, b))
    fused = linear_cross_entropy(Hs, W, b, y)
    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=0)
    for got, want in zip(torch.autograd.grad(fused * 3, (Hs, W, b)), expected):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_one_hot_matmul_is_exactly_a_row_gather_in_float32():
    W = torch.randn(V, H)
    X = inputs(3)
    one_hot = torch.nn.functional.one_hot(X, V).float() @ W
    assert torch.equal(one_hot, W[X])


@pytest.mark.parametrize("relu", [False, True])
def test_hand_written_bptt_passes_gradcheck(relu):
    g = torch.Generator().manual_seed(4)
    XW = torch.randn(4, 2, 3, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=g, requires_grad=True)
    H0 = torch.randn(2, 3, dtype=torch.float64, generator=g, requires_grad=True)
    W = (0.5 * torch.randn(3, 3, dtype=torch.float64, generator=g)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda *args: rnn_recurrence(*args, relu), (XW, b, H0, W))


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


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_an_embedding_as_wide_as_the_vocabulary_computes_what_a_wider_one_does(cell):
    # the embedding feeds one linear map: E W_ihᵀ is all the first layer sees, a (V, gates·h) table
    torch.manual_seed(0)
    wide = RNNModel(V, H, cell, input_kind="embedding").eval()
    narrow = RNNModel(V, H, cell, input_kind="embedding", embedding_dim=V).eval()
    assert narrow.embedding.weight.shape == (V, V) and narrow.rnn.weight_ih_l0.shape[1] == V
    narrow.load_state_dict({**wide.state_dict(), "embedding.weight": torch.eye(V),
                            "rnn.weight_ih_l0": wide.rnn.weight_ih_l0 @ wide.embedding.weight.T})
    X = inputs()
    wide_out, _ = wide(X, wide.begin_state(B))
    narrow_out, _ = narrow(X, narrow.begin_state(B))
    assert torch.allclose(narrow_out, wide_out, atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_concise_loss_under_bf16_autocast_is_the_float32_loss_to_bfloat16_precision(cell):
    skip_unless_bf16_trains(cell)
    torch.manual_seed(0)
    net = RNNModel(V, H, cell)
    X, Y = inputs(1), inputs(2)
    exact, _ = net.loss(X, Y, net.begin_state(B))
    exact_grads = torch.autograd.grad(exact, list(net.parameters()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = net.loss(X, Y, net.begin_state(B))
    grads = torch.autograd.grad(loss, list(net.parameters()))
    assert loss.dtype == torch.float32 and loss != exact
    assert abs(loss.item() - exact.item()) < 1e-2 * exact.item()
    for grad, exact_grad in zip(grads, exact_grads):
        assert grad.dtype == torch.float32
        assert torch.allclose(grad, exact_grad, rtol=0.05, atol=0.02 * exact_grad.abs().max().item())


def test_build_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("transformer", V, H)
