import random

import torch

from rnn_tui.engine.samplers import min_tokens_for, seq_data_iter_random, seq_data_iter_sequential, split_train_val


def corpus(n=1000):
    return torch.arange(n)


def test_y_is_x_shifted_by_one():
    for make in (seq_data_iter_random, seq_data_iter_sequential):
        batches = make(corpus(), 4, 7, random.Random(1))
        assert len(batches) > 0
        for X, Y in batches:
            assert X.shape == Y.shape == (4, 7)
            assert torch.equal(Y, X + 1)  # the corpus is arange, so "next token" is +1


def test_sequential_rows_continue_across_minibatches():
    batches = seq_data_iter_sequential(corpus(), 4, 7, random.Random(2))
    assert batches.carries_state
    previous = None
    for X, _ in batches:
        if previous is not None:
            assert torch.equal(X[:, 0], previous[:, -1] + 1)
        previous = X


def test_random_subsequences_never_overlap_and_state_is_not_carried():
    batches = seq_data_iter_random(corpus(), 4, 7, random.Random(3))
    assert not batches.carries_state
    starts = torch.cat([X[:, 0] for X, _ in batches]).tolist()
    assert len(set(starts)) == len(starts)
    spans = sorted(starts)
    assert all(b - a >= 7 for a, b in zip(spans, spans[1:]))
    # consecutive minibatches are not adjacent in the text in general (they are shuffled)
    firsts = [X[0, 0].item() for X, _ in batches]
    assert firsts != sorted(firsts)


def test_offsets_are_random_and_seeded():
    a = [seq_data_iter_random(corpus(), 2, 5, random.Random(s)).X[0, 0, 0].item() for s in range(20)]
    assert len(set(x % 5 for x in a)) > 1
    one = seq_data_iter_sequential(corpus(), 2, 5, random.Random(7)).X
    two = seq_data_iter_sequential(corpus(), 2, 5, random.Random(7)).X
    assert torch.equal(one, two)


def test_min_tokens_gives_one_minibatch_for_every_offset():
    B, T = 3, 5
    n = min_tokens_for(B, T)
    for seed in range(50):
        assert len(seq_data_iter_sequential(corpus(n), B, T, random.Random(seed))) >= 1
        assert len(seq_data_iter_random(corpus(n), B, T, random.Random(seed))) >= 1


def test_validation_split_is_the_tail():
    train, val = split_train_val(corpus(100), 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    train, val = split_train_val(corpus(100), 0.0)
    assert len(train) == 100 and len(val) == 0
