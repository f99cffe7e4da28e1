from rnn_tui.engine.text import detokenize, tokenize, tokenize_prefix
from rnn_tui.engine.vocab import UNK, UNK_PLACEHOLDER, Vocab


def test_d2l_preprocessing_gives_28_tokens_on_the_time_machine(timemachine_text):
    tokens = tokenize(timemachine_text, "d2l", "char")
    vocab = Vocab(tokens)
    assert len(vocab) == 28
    assert vocab.idx_to_token[:4] == [UNK, " ", "e", "t"]  # d2l §8.2 prints these first
    assert len(tokens) == 170580  # d2l's len(corpus) for The Time Machine


def test_raw_keeps_every_character_newlines_included():
    text = "Hé llo,\n世界\n"
    assert tokenize(text, "raw", "char") == list(text)


def test_d2l_concatenates_lines_like_the_book():
    assert "".join(tokenize("Ab, c!\n\nD", "d2l", "char")) == "ab cd"


def test_word_tokens():
    assert tokenize("The Time-Machine\nby Wells", "d2l", "word") == ["the", "time", "machine", "by", "wells"]
    raw = tokenize("a b\nc", "raw", "word")
    assert raw == ["a", "b", "\n", "c"]
    assert detokenize(raw, "word") == "a b\nc"


def test_unknown_tokens_map_to_unk_never_keyerror():
    vocab = Vocab("aab")
    assert vocab["z"] == 0 and vocab[["a", "z"]] == [vocab["a"], 0]
    assert vocab.display(0) == UNK_PLACEHOLDER


def test_frequency_order_ties_first_seen_min_freq_reserved_and_cap():
    vocab = Vocab("bbaac", min_freq=2, reserved_tokens=["<pad>"])
    assert vocab.idx_to_token == [UNK, "<pad>", "b", "a"]
    capped = Vocab("aaabbc", max_size=3)
    assert capped.idx_to_token == [UNK, "a", "b"] and capped["c"] == 0


def test_prefix_follows_corpus_preprocessing_but_keeps_trailing_space():
    assert tokenize_prefix("Time Traveller ", "d2l", "char") == list("time traveller ")
    assert tokenize_prefix("ab", "raw", "char") == ["a", "b"]


def test_vocab_round_trip():
    vocab = Vocab("hello world")
    again = Vocab.from_list(vocab.idx_to_token)
    assert again.token_to_idx == vocab.token_to_idx
