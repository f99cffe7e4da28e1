"""Generation's steppers (torch and C) against the textbook model and its predict loop."""
import os
import shutil
import sysconfig
from pathlib import Path

import pytest
import torch

from rnn_tui.engine import kernels
from rnn_tui.engine.bench.paths import textbook_predict
from rnn_tui.engine.generation import generate_indices
from rnn_tui.engine.kernels import stepper_for
from rnn_tui.engine.kernels.stepper import RNNStepper
from rnn_tui.engine.models import RNNModel, RNNModelScratch
from helpers import INSTRUCTION_SETS, assert_close_float32, use_c_kernels

V, H = 11, 16
# the torch stepper, then the C stepper with each instruction set's kernels (those the CPU lacks skip),
# then with the best kernels and each step's columns split between 2 and 3 threads
KINDS = ["torch"] + [f"c-{name}" for name in INSTRUCTION_SETS] + ["c-split2", "c-split3"]


def _compiler_and_headers() -> bool:
    """What setuptools needs to build the C stepper: this Python's C compiler and its headers."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(compiler) is not None and (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()


def test_the_c_stepper_is_built_wherever_the_install_could_build_it():
    if not _compiler_and_headers():
        pytest.skip("no C compiler or Python headers here: the install skips the C stepper by design")
    assert kernels.native is not None, "a compiler and headers are here but the C kernels were not built"


def make_stepper(kind, net, H0, blocks=1):
    """``kind``: "torch", or "c-" and an instruction set ("c" alone: the kernels chosen at import)."""
    if kind == "torch":
        return RNNStepper(net, H0, blocks)
    _, _, name = kind.partition("-")
    if not name.startswith("split"):
        use_c_kernels(name)
        return kernels.native.NativeRNNStepper(net, H0)
    use_c_kernels()
    native_stepper = kernels.native.stepper
    threads, every_size = torch.get_num_threads(), native_stepper.PARALLEL_BYTES
    torch.set_num_threads(int(name.removeprefix("split")))
    native_stepper.PARALLEL_BYTES = 0  # whatever the output layer's size
    try:
        stepper = native_stepper.NativeRNNStepper(net, H0)
    finally:
        torch.set_num_threads(threads)
        native_stepper.PARALLEL_BYTES = every_size
    assert stepper._layout[-1] == int(name.removeprefix("split"))  # the threads the C side is told
    return stepper


# the last two have an output layer over SMALL_OUTPUT_BYTES: the torch stepper cuts it into column
# blocks too; none of the sizes is a whole number of the C stepper's 16-float vectors but 16
STEPPER_SHAPES = [(16, 11, 2), (15, 11, 3), (12, 5, 4), (16, 11, 1), (64, 1100, 2), (60, 1200, 3)]


def _recurrent_net(vocab, hidden, activation="tanh", seed=7):
    torch.manual_seed(seed)
    net = RNNModelScratch(vocab, hidden, "rnn", "textbook", activation=activation)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, hidden ** -0.5)  # a recurrence that neither dies out nor amplifies rounding
    return net


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hidden,vocab,blocks", STEPPER_SHAPES)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_generation_stepper_gives_the_models_logits(kind, hidden, vocab, blocks, activation):
    net = _recurrent_net(vocab, hidden, activation)
    tokens = torch.randint(0, vocab, (12,))
    state = (torch.randn(1, hidden),)
    stepper = make_stepper(kind, net, state[0], blocks)
    with torch.no_grad():
        for token in tokens:
            expected, state = net(token.view(1, 1), state)
            logits = stepper.logits(token.view(1))
            assert logits.shape == expected.shape  # padding columns never reach the caller
            assert_close_float32(logits, expected)
            assert_close_float32(stepper.state()[0], state[0])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("blocks", [1, 3])
def test_feeding_a_prompt_to_the_stepper_gives_the_models_state(kind, blocks):
    net = _recurrent_net(11, 15, seed=11)
    with torch.no_grad():
        prompt, H0 = torch.randint(0, 11, (9,)), torch.randn(1, 15)
        _, (expected,) = net(prompt.view(1, -1), (H0,))
        stepper = make_stepper(kind, net, H0, blocks)
        stepper.feed(prompt)
    assert_close_float32(stepper.state()[0], expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hidden,vocab,blocks", STEPPER_SHAPES)
def test_greedy_steps_choose_what_the_textbook_predict_loop_chooses(kind, hidden, vocab, blocks):
    torch.manual_seed(3)
    net = RNNModelScratch(vocab, hidden, "rnn", "textbook")
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3)
    chosen = textbook_predict(net, [1, 2], 40, "cpu")[2:]
    with torch.inference_mode():
        _, state = net(torch.tensor([[1]]), net.begin_state(1))
        stepper = make_stepper(kind, net, state[0], blocks)
        assert stepper.greedy(torch.tensor([2]), 40).tolist() == chosen


def c_tanh(x, name):
    """The C tanh of each value of ``x``, exposed: a state after one step from H = 0 with W_hh = 0 is
    tanh(W_xh[x] + b_h)."""
    values = []
    for chunk in x.split(2048):
        net = RNNModelScratch(1, len(chunk), "rnn", "textbook")
        with torch.no_grad():
            net.W_hh.zero_()
            net.b_h.zero_()
            net.W_xh.copy_(chunk[None])
        stepper = make_stepper(f"c-{name}", net, torch.zeros(1, len(chunk)))
        stepper.feed(torch.tensor([0]))
        values.append(stepper.state()[0][0].clone())
    return torch.cat(values)


def float32_ulp(values):
    """The gap from each float32 value to the next one away from zero, in double."""
    values = values.float()
    return (values.nextafter(torch.copysign(torch.full_like(values, 2.0), values)) - values).double().abs()


@pytest.mark.parametrize("name", INSTRUCTION_SETS)
def test_c_tanh_is_within_a_few_float32_ulps_of_tanh_everywhere(name):
    x = torch.cat([torch.linspace(-12, 12, 2048), torch.linspace(-1e-3, 1e-3, 1024),
                   torch.tensor([0.0, 9.0, -9.0, 8.99, 1e-30, -1e-30, 20.0, -20.0]),
                   torch.linspace(-0.6, 0.6, 1016)])
    got, want = c_tanh(x, name).double(), torch.tanh(x.double())
    assert ((got - want).abs() / float32_ulp(want)).max() <= 4
    assert torch.equal(got.sign(), want.sign()) and got.abs().max() <= 1


@pytest.mark.parametrize("name", INSTRUCTION_SETS)
@pytest.mark.parametrize("low, high", [(0.05, 0.5), (0.5, 1.5), (1.5, 4.0)])
def test_c_tanh_errors_are_not_biased(name, low, high):
    """Training's backward uses 1 - H² of these outputs: a tanh short on average shrinks every state and
    skews every slope one way, epoch after epoch. Its mean signed error against tanh in double stays a
    small fraction of an ulp (float32's own rounding of tanh: 0), on both signs."""
    x = torch.linspace(low, high, 8192)
    x = torch.cat([x, -x])
    got, want = c_tanh(x, name).double(), torch.tanh(x.double())
    signed_ulps = (got - want) / float32_ulp(want) * want.sign()  # > 0: too far from zero
    assert signed_ulps[:8192].mean().abs() < 0.03 and signed_ulps[8192:].mean().abs() < 0.03


@pytest.mark.parametrize("name", INSTRUCTION_SETS)
def test_c_greedy_breaks_ties_and_meets_nan_as_torch_argmax_does(name):
    net = RNNModelScratch(6, 16, "rnn", "textbook")
    with torch.no_grad():
        net.W_hq.zero_()
        net.b_q.copy_(torch.tensor([0.0, 2.0, 1.0, 2.0, 0.0, 0.0]))  # a tie: the first of 1 and 3
        stepper = make_stepper(f"c-{name}", net, torch.zeros(1, 16))
        assert stepper.greedy(torch.tensor([0]), 3).tolist() == [1, 1, 1]
        net.b_q[4] = float("nan")  # torch.argmax takes NaN as the largest
        stepper = make_stepper(f"c-{name}", net, torch.zeros(1, 16))
        assert stepper.greedy(torch.tensor([0]), 2).tolist() == [4, 4]


@pytest.mark.parametrize("kind", ["c-split2", "c-split3"])
def test_c_greedy_split_between_threads_chooses_as_torch_argmax_does(kind):
    """Each thread's best of its columns, then the best of those: ties and NaN across the threads' parts."""
    vocab = 60  # 64 padded: parts of whole vectors for every thread count and instruction set
    net = RNNModelScratch(vocab, 16, "rnn", "textbook")
    cases = [({5: 2.0, 50: 2.0}, 5),                      # a tie across parts: the first
             ({50: 3.0, 59: 3.0}, 50),                    # within the last part
             ({5: 2.0, 40: float("nan"), 55: float("nan")}, 40),  # the first NaN wins over any value
             ({3: float("nan"), 40: float("nan")}, 3),
             ({}, 0)]                                     # all equal: the first
    for marks, expected in cases:
        with torch.no_grad():
            net.W_hq.zero_()
            net.b_q.zero_()
            for index, value in marks.items():
                net.b_q[index] = value
            stepper = make_stepper(kind, net, torch.zeros(1, 16))
            want = int(net.b_q.argmax())
            assert want == expected  # the case is what it says
            assert stepper.greedy(torch.tensor([0]), 2).tolist() == [want, want], marks


def test_c_stepper_splits_large_weights_only_and_between_a_few_threads():
    use_c_kernels()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(16)
        small, d2l = RNNModelScratch(28, 128), RNNModelScratch(28, 512)
        native = kernels.native
        assert native.NativeRNNStepper(small, torch.zeros(1, 128))._layout[-1] == 1  # 80 KB: a team costs more
        assert native.NativeRNNStepper(d2l, torch.zeros(1, 512))._layout[-1] == native.stepper.MAX_THREADS
    finally:
        torch.set_num_threads(threads)


def test_c_stepper_refuses_a_token_outside_the_vocabulary():
    net = RNNModelScratch(V, H, "rnn", "textbook")
    stepper = make_stepper("c", net, torch.zeros(1, H))
    with pytest.raises(IndexError, match="outside the vocabulary"):
        stepper.greedy(torch.tensor([V]), 2)
    with pytest.raises(IndexError):
        stepper.feed(torch.tensor([0, -1]))


def test_generation_yields_outside_inference_mode_and_equals_the_textbook_loop():
    torch.manual_seed(5)
    net = RNNModelScratch(V, H, "rnn", "fast")
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.5)
    produced = []
    for index in generate_indices(net, [1, 2, 3], 50):  # 50: more than one chunk of tokens
        assert not torch.is_inference_mode_enabled()  # the caller's code runs in its own mode
        produced.append(index)
    assert produced == textbook_predict(net, [1, 2, 3], 50, "cpu")[3:]
    assert net.training  # the model's mode is given back


def test_the_best_kernels_the_cpu_runs_are_chosen_and_an_unknown_set_is_refused():
    use_c_kernels()
    native = kernels.native
    assert native.instruction_sets()[-1] == "generic"  # runs everywhere, chosen last
    assert native.instruction_set() == native.default_instruction_set()
    assert native.default_instruction_set() == native.instruction_sets()[0] or os.environ.get(native.ISA_ENV)
    with pytest.raises(ValueError, match="no kernels for sse9"):
        native.use("sse9")
    native.use("generic")  # built and tested everywhere, but slower than the torch stepper: not taken by auto
    assert isinstance(stepper_for(RNNModelScratch(V, H), (torch.zeros(1, H),)), RNNStepper)
    assert stepper_for(RNNModelScratch(V, H, kernels="c"), (torch.zeros(1, H),)).name == "C stepper, generic"


@pytest.mark.parametrize("setting", ["torch", "onednn"])
def test_kernels_other_than_c_generate_with_the_torch_stepper(setting):
    assert isinstance(stepper_for(RNNModelScratch(V, H, kernels=setting), (torch.zeros(1, H),)), RNNStepper)


def test_stepper_is_used_only_for_the_scratch_rnn_on_the_cpu():
    chosen = stepper_for(RNNModelScratch(V, H), (torch.zeros(1, H),))
    c_faster = kernels.native is not None and kernels.native.faster_than_torch()
    assert chosen.name.startswith("C stepper") if c_faster else isinstance(chosen, RNNStepper)
    # the C stepper computes in float32: a float64 model keeps the torch one
    assert isinstance(stepper_for(RNNModelScratch(V, H).double(), (torch.zeros(1, H, dtype=torch.float64),)),
                      RNNStepper)
    assert stepper_for(RNNModelScratch(V, H, "gru"), (torch.zeros(1, H),)) is None
    assert stepper_for(RNNModel(V, H, "rnn"), (torch.zeros(1, 1, H),)) is None
