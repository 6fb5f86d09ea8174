import pytest
from conftest import tiny_config
from transformers import AutoTokenizer

from tinyslm_hf.tokenization import (
    IM_END,
    IM_START,
    SPECIAL_TOKENS,
    check_vocab_compatible,
    stop_token_ids,
    train_tokenizer,
)

TRICKY = "Hello  world\n\n\tTabs, 123 4567 digits; café naïve 日本語 🙂🚀 <|endoftext|> end"


def test_round_trip_of_unicode_whitespace_and_specials(tiny_tokenizer):
    ids = tiny_tokenizer(TRICKY, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.decode(ids) == TRICKY
    assert ids.count(tiny_tokenizer.eos_token_id) == 1  # the special token is one id, not split into bytes


def test_special_token_ids_are_fixed(tiny_tokenizer):
    assert tiny_tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS) == [0, 1, 2, 3]
    assert (tiny_tokenizer.eos_token_id, tiny_tokenizer.pad_token_id, tiny_tokenizer.bos_token_id) == (0, 1, 0)
    assert tiny_tokenizer.pad_token_id != tiny_tokenizer.eos_token_id  # else the collator masks every EOS
    assert stop_token_ids(tiny_tokenizer) == [0, 3]


def test_chat_template_and_assistant_mask(tiny_tokenizer):
    messages = [{"role": "user", "content": "sum of A"}, {"role": "assistant", "content": "=SUM(A2:A9)"}]
    text = tiny_tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == f"{IM_START}user\nsum of A{IM_END}\n{IM_START}assistant\n=SUM(A2:A9){IM_END}\n"
    prompt = tiny_tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith(f"{IM_START}assistant\n")
    enc = tiny_tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
    answer = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
    assert tiny_tokenizer.decode(answer) == f"=SUM(A2:A9){IM_END}"


def test_save_and_auto_tokenizer_reload(tiny_tokenizer, tmp_path):
    tiny_tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded(TRICKY)["input_ids"] == tiny_tokenizer(TRICKY)["input_ids"]
    assert loaded.chat_template == tiny_tokenizer.chat_template
    assert loaded.pad_token == tiny_tokenizer.pad_token and loaded.padding_side == "right"
    assert len(loaded) == len(tiny_tokenizer)


def test_training_from_files_and_bad_arguments(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("abc abc abd abd " * 50, encoding="utf-8")
    tok = train_tokenizer(files=[f], vocab_size=270)
    assert len(tok) <= 270 and tok.decode(tok("abc abd")["input_ids"]) == "abc abd"
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(["x"], vocab_size=100)
    with pytest.raises(ValueError, match="exactly one"):
        train_tokenizer()


def test_vocab_mismatch_is_reported(tiny_tokenizer):
    with pytest.raises(ValueError, match="does not|do not belong"):
        check_vocab_compatible(tiny_tokenizer, tiny_config(vocab_size=len(tiny_tokenizer) - 1))
    check_vocab_compatible(tiny_tokenizer, tiny_config(vocab_size=len(tiny_tokenizer)))


def test_copy_friendly_tokenizer_gives_a_value_the_same_tokens_in_prompt_and_answer(tmp_path):
    texts = ["total Sales for Nadia Walsh in row 218", '=SUMIF(A2:A40,"Nadia Walsh",C2:C40)', "row 12 and 7"] * 50
    plain = train_tokenizer(texts, vocab_size=300)
    friendly = train_tokenizer(texts, vocab_size=300, copy_friendly=True)

    def ids(tok, text):
        return tok(text, add_special_tokens=False)["input_ids"]

    # The plain byte-level BPE glues the space to the word, so the name differs between request and formula.
    assert ids(plain, " Nadia") != ids(plain, "Nadia")
    for tok_text in ("Nadia", "Walsh", "218", "40"):
        request_side, answer_side = ids(friendly, " " + tok_text), ids(friendly, '"' + tok_text)
        assert request_side[1:] == answer_side[1:], tok_text  # only the leading space / quote token differs
    assert all(len(friendly.decode([i])) == 1 for i in ids(friendly, "218"))  # one token per digit
    text = 'Request: get Nadia Walsh\'s Salary  in row 12\n=INDEX(C2:C18,MATCH("Nadia Walsh",D2:D18,0))'
    assert friendly.decode(ids(friendly, text)) == text
    friendly.save_pretrained(tmp_path)
    assert ids(AutoTokenizer.from_pretrained(tmp_path), text) == ids(friendly, text)
