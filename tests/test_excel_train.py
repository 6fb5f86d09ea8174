"""Training pieces of the Excel task: answer-only labels, LoRA merge equivalence, a tiny end-to-end CLI run."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import torch

from tinyslm_hf.cli import main
from tinyslm_hf.excel.example import Example
from tinyslm_hf.excel.synthetic.generator import generate
from tinyslm_hf.excel.train import ExampleTooLong, ExcelTrainConfig, encode_example, train_excel, train_texts
from tinyslm_hf.tokenization import train_tokenizer

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
            vocab_size=400, batch_size=4, logging_steps=1, warmup_steps=0)


@pytest.fixture(scope="module")
def examples():
    return list(generate("train", 48, seed=0))


@pytest.fixture(scope="module")
def excel_tokenizer(examples):
    return train_tokenizer(train_texts(examples), vocab_size=400)


def test_labels_cover_only_the_assistant_formula(excel_tokenizer, examples):
    for ex in examples[:10]:
        enc = encode_example(excel_tokenizer, ex)
        ids, labels = enc["input_ids"], enc["labels"]
        assert len(ids) == len(labels)  # the collator adds the attention mask when it pads
        answer = [t for t, l in zip(ids, labels) if l != -100]
        assert excel_tokenizer.decode(answer) == ex.formula + "<|im_end|>"
        first = next(i for i, l in enumerate(labels) if l != -100)
        assert all(l == -100 for l in labels[:first])  # the whole prompt (schema + request) is masked
        assert all(l != -100 for l in labels[first:first + len(answer)])
        prompt = excel_tokenizer.decode(ids[:first])
        assert ex.request.strip() in prompt and prompt.rstrip().endswith("assistant")


def test_an_example_longer_than_max_length_is_refused_not_cut(excel_tokenizer, examples):
    bare = dataclasses.replace(examples[0], show_samples=False)  # no sample values to leave out
    length = len(encode_example(excel_tokenizer, bare)["input_ids"])
    assert len(encode_example(excel_tokenizer, bare, max_length=length)["input_ids"]) == length
    with pytest.raises(ExampleTooLong, match=f"{length} tokens exceed the context of {length - 1}"):
        encode_example(excel_tokenizer, bare, max_length=length - 1)


def test_training_shows_a_wide_table_as_decoding_does(excel_tokenizer):
    from tinyslm_hf.excel.evaluate import _prompt
    from tinyslm_hf.excel.prompt import prompt_limit

    table, request = _wide_table(), "total weight of plastic"
    ex = Example(id="w", split="train", table=table, request=request, formula='=SUMIF(D2:D7,"Plastic",E2:E7)',
                 expected=0.0, function="SUMIF", difficulty="medium", family="sumif")
    whole = len(encode_example(excel_tokenizer, ex, max_length=4096)["input_ids"])
    enc = encode_example(excel_tokenizer, ex, max_length=whole)  # fits, but leaves the answer no room: fitted
    first = next(i for i, t in enumerate(enc["labels"]) if t != -100)
    assert len(enc["input_ids"]) < whole and first <= prompt_limit(whole)
    assert excel_tokenizer.decode(enc["input_ids"][:first]) == _prompt(excel_tokenizer, table, request, True, whole)
    assert excel_tokenizer.decode([t for t in enc["labels"] if t != -100]) == ex.formula + "<|im_end|>"


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("excel") / "base"
    train_excel(ExcelTrainConfig(out_dir=str(out), n_train=48, max_steps=3, learning_rate=3e-3, **TINY))
    return out


def test_lora_merge_gives_the_same_outputs_as_the_adapter_model(base_dir, tmp_path, excel_tokenizer):
    from peft import PeftModel

    from tinyslm_hf.modelio import load_model_and_tokenizer

    merged_dir = tmp_path / "merged"
    summary = train_excel(ExcelTrainConfig(out_dir=str(merged_dir), init=str(base_dir), lora=True, lora_r=4,
                                           n_train=32, max_steps=4, learning_rate=2e-2, batch_size=4, warmup_steps=0))
    assert summary["trainable_parameters"] < summary["parameters"] / 2
    assert summary["optimizer"] == "AdamW"  # from a pretrained start: AdamW, not the from-scratch Muon
    merged, tok = load_model_and_tokenizer(merged_dir)
    base, _ = load_model_and_tokenizer(base_dir)
    adapted = PeftModel.from_pretrained(base, str(tmp_path / "merged-adapter")).eval()
    ex = next(generate("validation", 1, seed=3))
    from tinyslm_hf.excel.prompt import example_messages

    ids = tok.apply_chat_template(example_messages(ex, with_answer=False), add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        a = adapted(input_ids=ids).logits
        m = merged(input_ids=ids).logits
        plain, _ = load_model_and_tokenizer(base_dir)
        b = plain(input_ids=ids).logits
    assert not torch.allclose(a, b, atol=1e-4)  # the adapters learned something
    torch.testing.assert_close(m, a, atol=1e-4, rtol=1e-4)
    ga = adapted.generate(input_ids=ids, max_new_tokens=12, do_sample=False)
    gm = merged.generate(input_ids=ids, max_new_tokens=12, do_sample=False)
    assert torch.equal(ga, gm)


def test_tiny_train_eval_ask_end_to_end_through_the_cli(tmp_path, capsys):
    data = tmp_path / "data"
    model = tmp_path / "model"
    assert main(["excel", "generate-data", "--out", str(data), "--n-train", "40", "--n-validation", "4",
                 "--n-test", "6", "--seed", "1", "--request-noise", "0.5"]) == 0
    assert len((data / "test.jsonl").read_text().splitlines()) == 6
    assert main(["excel", "train", "--out", str(model), "--data", str(data), "--steps", "3", "--batch-size", "4",
                 "--hidden-size", "32", "--layers", "1", "--vocab-size", "600", "--bf16", "true"]) == 0
    assert (model / "model.safetensors").is_file() and (model / "excel_train.json").is_file()
    # bf16 on a CPU needs `use_cpu` (training.precision_args), or transformers refuses to start
    assert json.loads((model / "excel_train.json").read_text())["bf16"] is True
    report = tmp_path / "report.json"
    preds = tmp_path / "preds.jsonl"
    assert main(["excel", "eval", "--model", str(model), "--data", str(data), "--compare", "--json", str(report),
                 "--predictions", str(preds)]) == 0
    metrics = json.loads(report.read_text())
    for mode in ("plain", "constrained"):
        m = metrics[mode]
        assert m["n"] == 6 and 0 <= m["execution_accuracy"] <= 1
        # the defaults: the best measured decoding
        assert m["synonyms"] is True and m["candidates"] == 8 and m["readings"] == 3
        assert set(m["per_difficulty"]) <= {"easy", "medium", "hard"} and m["per_function"]
    assert metrics["plain"]["constrained"] is False and metrics["constrained"]["constrained"] is True
    # without the thesaurus there is nothing to read another way: one reading, and no complaint about the default
    assert main(["excel", "eval", "--model", str(model), "--data", str(data), "--no-synonyms", "--json",
                 str(report)]) == 0
    assert json.loads(report.read_text())["readings"] == 1
    assert len(preds.read_text().splitlines()) == 12
    batch_in, batch_out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [["West", "Ann", 10], ["East", "Bo", 20]]
    batch_in.write_text("\n".join(json.dumps({"id": i, "table": {"headers": ["Region", "Rep", "Sales"], "rows": rows},
                                              "request": "total sales"}) for i in ("a", "b")) + "\n")
    assert main(["excel", "ask", "--model", str(model), "--batch", str(batch_in), "--out", str(batch_out),
                 "--constrained", "--candidates", "2"]) == 0
    out = [json.loads(line) for line in batch_out.read_text().splitlines()]
    assert [o["id"] for o in out] == ["a", "b"] and all(isinstance(o["formula"], str) for o in out)
    capsys.readouterr()
    assert main(["excel", "ask", "total sales", "--model", str(model), "--columns", "A=Region,B=Rep,C=Sales",
                 "--rows", "2:40", "--no-synonyms"]) == 0
    assert main(["excel", "ask", "total sales", "--model", str(model), "--columns", "Region,Sales"]) == 2
    assert main(["excel", "ask", "total sales", "--model", str(model), "--columns", "A=Region",
                 "--candidates", "0"]) == 2
    assert main(["excel", "ask", "total sales", "--model", str(model), "--columns", "A=Region",
                 "--readings", "3", "--no-synonyms"]) == 2
    assert main(["excel", "ask", "total sales", "--model", str(model), "--columns", "A=Region,B=Rep,C=Sales",
                 "--readings", "3"]) == 0
    batch_in.write_text('{"id": 1, "request": "x"}\n')
    assert main(["excel", "ask", "--model", str(model), "--batch", str(batch_in), "--out", str(batch_out)]) == 2


def test_candidate_pick_prefers_formulas_that_run_and_use_every_linked_column():
    from tinyslm_hf.excel.ranking import pick_candidate, referenced_columns
    from tinyslm_hf.excel.table import CATEGORY, NUMBER, Column, Table, schema_table

    assert referenced_columns('=SUMIF(A2:A9,"B2 x",C2:C9)') == {"A", "C"}  # not the "B2" inside the string
    assert referenced_columns("=LOG10(B2)+$D$4*2") == {"B", "D"}  # not the function name
    assert referenced_columns('=VLOOKUP("x",A2:D9,3,FALSE)') == {"A", "B", "C", "D"}  # a range reads every column
    assert referenced_columns("=SUM(B:B)") == {"B"} and referenced_columns('=COUNTIF(A2:A3,"C2') == {"A"}
    table = Table("t", [Column("A", "City", CATEGORY, ["Leeds", "York"]), Column("B", "Sales", NUMBER, [5, 9])])
    missing, div0, total, other = ('=VLOOKUP("Hull",A2:B3,2,FALSE)', '=AVERAGEIF(A2:A3,"Hull",B2:B3)',
                                   '=SUM(B2:B3)', '=MAX(B2:B3)')
    count = "=COUNTA(A2:A3)"
    # "sales" links column B: #N/A and #DIV/0! are skipped, then the first that uses B, in beam order
    assert pick_candidate([missing, div0, count, total, other], table, "total sales") == total
    assert pick_candidate([other, total], table, "the sales figure") == other  # beam order among equals
    assert pick_candidate([other, total], table, "total sales") == total  # `total` asks for SUM (rule 7)
    assert pick_candidate([count, missing], table, "total sales") == count  # runs, though B is unused
    assert pick_candidate([count, total], table, "how many are there") == count  # nothing linked: the first that runs
    assert pick_candidate([missing, "=SUM(", div0], table, "total sales") == missing  # nothing runs: the top beam
    assert pick_candidate(["=SUM(B:B)", total], table, "total sales") == "=SUM(B:B)"
    with pytest.raises(ValueError, match="no candidates"):
        pick_candidate([], table, "total sales")
    empty = schema_table({"A": "City", "B": "Sales"}, 2, 3)  # `ask --columns`: no values to run on
    assert pick_candidate([count, missing], empty, "total sales") == missing  # uses B; its #N/A cannot be seen
    assert pick_candidate([count, total], empty, "how many are there") == count


def test_candidate_pick_prefers_formulas_that_test_the_stated_comparisons_and_quote_named_values():
    from tinyslm_hf.excel.ranking import formula_comparisons, pick_candidate
    from tinyslm_hf.excel.table import CATEGORY, NUMBER, Column, Table

    assert formula_comparisons('=COUNTIF(C2:C9,">153")') == {(">", "153")}
    # a date bound also in its whole-day form: before 8 July is on or before 7 July
    assert formula_comparisons('=COUNTIF(D2:D9,"<"&DATE(2023,7,8))') == {("<", "2023-07-08"), ("<=", "2023-07-07")}
    assert formula_comparisons('=IF(AND(F4<4900,50<=B4),"Y","N")') == {("<", "4900"), (">=", "50")}  # 50<=B4: B4>=50
    assert formula_comparisons('=SUMIF(A2:A9,"x>5",B2:B9)') == set()  # text, not a criterion
    assert formula_comparisons('=SUMIF(A2:A9,"B4>5",C2:C9)') == set()  # a cell comparison inside a string is text
    assert formula_comparisons('=COUNTIF(A2:A9,">"&4200)+IF(D4<DATE(2023,7,8),1,0)') == {
        (">", "4200"), ("<", "2023-07-08"), ("<=", "2023-07-07")}
    assert formula_comparisons('=COUNTIF(A2:A9,">"&B2)') == set()  # compared with a cell, not a stated number
    table = Table("t", [Column("A", "City", CATEGORY, ["Leeds", "York"]), Column("B", "Sales", NUMBER, [5, 9])])
    flipped, right = '=COUNTIF(B2:B3,"<6")', '=COUNTIF(B2:B3,">6")'
    assert pick_candidate([flipped, right], table, "how many sales over 6") == right
    assert pick_candidate([flipped, right], table, "how many sales not above 6") == flipped  # `not above` is <=
    assert pick_candidate([flipped, right], table, "how many sales are big") == flipped  # nothing stated: beam order
    # running without an error and using the linked columns still come first
    assert pick_candidate(['=COUNTIF(A2:A3,">6")', flipped], table, "how many sales over 6") == flipped
    # a named cell value must be quoted (the cell's own text, whatever the request's case or criteria marks)
    york, leeds = '=COUNTIF(A2:A3,"York")', '=COUNTIF(A2:A3,"LEEDS")'
    assert pick_candidate([york, leeds], table, "how many rows are leeds") == leeds
    assert pick_candidate([york, '=COUNTIF(A2:A3,"<>Leeds")'], table, "rows not leeds") == '=COUNTIF(A2:A3,"<>Leeds")'
    assert pick_candidate([york, leeds], table, "how many rows") == york
    # the comparison outranks the value
    wrong_value, wrong_op = '=COUNTIFS(A2:A3,"York",B2:B3,">6")', '=COUNTIFS(A2:A3,"Leeds",B2:B3,"<6")'
    assert pick_candidate([wrong_op, wrong_value], table, "leeds rows with sales over 6") == wrong_value
    # last, every number the request states: `3 characters starting at 2` is MID(..,2,3), not MID(..,3,3)
    text = Table("t", [Column("A", "Name", CATEGORY, ["Ann Lee", "Bo Park"])])
    assert pick_candidate(["=MID(A3,3,3)", "=MID(A3,2,3)"], text, "from name in row 3, 3 chars starting at 2") == \
        "=MID(A3,2,3)"
    assert pick_candidate(['=COUNTIF(A2:A3,"York")+7', '=COUNTIF(A2:A3,"Leeds")'], table, "leeds rows times 7") == \
        '=COUNTIF(A2:A3,"Leeds")'  # the value rule outranks the numbers one
    # one request word may match several cell values: quoting any of them will do
    twin = Table("t", [Column("A", "City", CATEGORY, ["Wests", "West"]), Column("B", "Sales", NUMBER, [5, 9])])
    west = '=SUMIF(A2:A3,"West",B2:B3)'
    assert pick_candidate(['=SUMIF(A2:A3,"North",B2:B3)', west], twin, "total sales for west") == west


def test_candidate_pick_skips_criteria_that_match_no_cell_of_their_column():
    """`=MAXIFS(B2:B4,C2:C4,"marco")` (the name tested against the tips column, the beam the model liked best) runs
    and gives 0; the lower beam with the ranges the other way round is what was asked."""
    from tinyslm_hf.excel.ranking import criteria_match, pick_candidate
    from tinyslm_hf.excel.table import CATEGORY, DATE, NUMBER, Column, Table, schema_table

    table = Table("t", [Column("A", "Ticket", CATEGORY, ["T-1", "T-2", "T-3"]),
                        Column("B", "Server", CATEGORY, ["Marco", "Priya", "Marco"]),
                        Column("C", "Tip", NUMBER, [2, 4, 6])])
    swapped, right = '=MAXIFS(B2:B4,C2:C4,"marco")', '=MAXIFS(C2:C4,B2:B4,"Marco")'
    assert not criteria_match(swapped, table) and criteria_match(right, table)
    assert pick_candidate([swapped, right], table, "biggest tip marco got") == right
    for unchecked in ('=COUNTIF(C2:C4,">3")', '=COUNTIF(C2:C4,4)', '=COUNTIF(B2:B4,"<>Ann")', '=COUNTIF(B2:B4,"M*")',
                      '=COUNTIF(B2:B4,"*"&A2&"*")', '=IF(B2="Ann","y","n")', '=XLOOKUP("T-9",A2:A4,C2:C4,"none")'):
        assert criteria_match(unchecked, table), unchecked
    assert not criteria_match('=COUNTIFS(B2:B4,"Marco",A2:A4,"Marco")', table)  # every criterion counts
    assert criteria_match('=COUNTIF(B2:B4,"M?rco")', table)  # a wildcard Excel expands
    dated = Table("t", [Column("A", "Day", DATE, [45292, 45293]), Column("B", "Tip", NUMBER, [2, 4])])
    assert criteria_match('=COUNTIF(A2:A3,"2024-01-01")', dated)  # date cells hold serials: a date-like text may match
    assert criteria_match(swapped, schema_table({"A": "Ticket", "B": "Server", "C": "Tip"}, 2, 4))  # no values


def test_candidate_pick_skips_ranges_that_miss_the_data_rows():
    """`=COUNTA(B2:B3)` for a table with data in rows 2-4 is a garbled row number: the next beam spanning the data
    wins, unless the request states the rows (`rows 2 to 3`); on a table known only by its headers too."""
    from tinyslm_hf.excel.ranking import pick_candidate, ranges_span_data
    from tinyslm_hf.excel.table import CATEGORY, NUMBER, Column, Table, schema_table

    table = Table("t", [Column("A", "Server", CATEGORY, ["Marco", "Priya", "Ann"]),
                        Column("B", "Tip", NUMBER, [2, 4, 6])])
    short, past, full = "=SUM(B2:B3)", "=SUM(B2:B40)", "=SUM(B2:B4)"
    assert not ranges_span_data(short, table) and not ranges_span_data(past, table) and ranges_span_data(full, table)
    assert ranges_span_data(short, table, stated={"2", "3"}) and ranges_span_data("=B3+SUM(B:B)", table)
    assert ranges_span_data('=COUNTIF(A2:A4,"B2:B3")', table)  # text, not a range
    assert ranges_span_data(short, table, "sum b2:b3") and ranges_span_data("=SUM($B$2:B3)", table, stated={"3"})
    assert ranges_span_data("=SUM(A3:B3)", table)  # one record across columns: not a column range
    assert ranges_span_data('=INDEX(A2:B4,2,MATCH("Tip",A1:B1,0))', table)  # a header row
    assert pick_candidate([short, past, full], table, "total tips") == full
    assert pick_candidate([full, short], table, "total tips in rows 2 to 3") == short
    assert pick_candidate([short, full], schema_table({"A": "Server", "B": "Tip"}, 2, 4), "total tips") == full


def test_criteria_take_the_cell_value_the_request_names_in_their_column():
    from tinyslm_hf.excel.ranking import pick_candidate
    from tinyslm_hf.excel.repairs import with_linked_values
    from tinyslm_hf.excel.table import CATEGORY, NUMBER, Column, Table

    table = Table("t", [Column("A", "Branch", CATEGORY, ["Riverside", "Eastside", "Riverside"]),
                        Column("B", "Paid By", CATEGORY, ["Card", "Cash", "Card"]),
                        Column("C", "Fee", NUMBER, [2, 4, 6])])
    request = "average fee at the riverside branch"
    word, value = '=AVERAGEIF(A2:A4,"Branch",C2:C4)', '=AVERAGEIF(A2:A4,"Riverside",C2:C4)'
    assert with_linked_values([word], table, request) == [word, value]  # the beam first, then its copy
    assert pick_candidate(with_linked_values([word], table, request), table, request) == value
    memorised = '=AVERAGEIF(A2:A4,"Card",C2:C4)'  # a value of another column, or a word the model remembers
    assert with_linked_values([memorised, word], table, request) == [memorised, value, word]
    # what is already right, a comparison, a number, or a criterion on another column than the value's stays alone
    for kept in (value, '=COUNTIF(A2:A4,"riverside")', '=COUNTIF(C2:C4,">3")', '=COUNTIF(C2:C4,4)',
                 '=COUNTIF(B2:B4,"Cash")', '=COUNTIF(C2:C4,"4")',
                 '=COUNTIF(A2:A4,"<>")', '=COUNTIF(A2:A4,"*")',  # not blank / anything: no value to fill in
                 '=COUNTIF(A2:A4,"*"&B2&"*")', '=COUNTIF(A2:A4,"<>"&B2)',  # an expression, not a literal
                 '=COUNTIF(A2:A4,"say ""hi""")',  # a literal with quotes in it
                 '=XLOOKUP("T-1",B2:B4,A2:A4,"not found")',  # a lookup in a column with no named value
                 '=IF(A2="East","East","West")'):  # not criteria
        assert with_linked_values([kept], table, request) == [kept], kept
    assert with_linked_values([word], table, "average fee") == [word]  # no value named: nothing to fill in
    # a lookup's key too, in the column it searches (its not-found text stays): "pH of WS-007" -> "WS-007"
    looked = with_linked_values(['=XLOOKUP("Branch",A2:A4,C2:C4,"none")', '=INDEX(C2:C4,MATCH("Eastside",A2:A4,0))',
                                 '=VLOOKUP("x",A2:C4,3,FALSE)'], table, "fee at riverside")
    assert looked == ['=XLOOKUP("Branch",A2:A4,C2:C4,"none")', '=XLOOKUP("Riverside",A2:A4,C2:C4,"none")',
                      '=INDEX(C2:C4,MATCH("Eastside",A2:A4,0))', '=INDEX(C2:C4,MATCH("Riverside",A2:A4,0))',
                      '=VLOOKUP("x",A2:C4,3,FALSE)', '=VLOOKUP("Riverside",A2:C4,3,FALSE)']
    header_row = '=INDEX(C2:C4,1,MATCH("Fee",A1:C1,0))'  # searches the headers: left alone
    assert with_linked_values([header_row], table, "fee at riverside") == [header_row]
    looked = with_linked_values(['=INDEX($C$2:$C$4,MATCH("Eastside",$A$2:$A$4,0))'], table, "fee at riverside")
    assert looked[1] == '=INDEX($C$2:$C$4,MATCH("Riverside",$A$2:$A$4,0))'
    assert pick_candidate(looked, table, "fee at riverside") == looked[1]  # the copy quotes the named value
    marks = with_linked_values(['=COUNTIF(A2:A4,"<>*East*")'], table, "rows not riverside")
    assert marks[1] == '=COUNTIF(A2:A4,"<>*Riverside*")'  # criteria marks stay
    # a copy wins only by meeting more checks: here both quote the value, so the model's beam stays first
    both = '=COUNTIFS(A2:A4,"Riverside",B2:B4,"Cash")'
    assert pick_candidate(with_linked_values([both], table, "riverside rows"), table, "riverside rows") == both


def test_candidates_decode_beams_and_return_the_executable_one(base_dir):
    from tinyslm_hf.excel.evaluate import predict_formulas
    from tinyslm_hf.excel.ranking import pick_candidate
    from tinyslm_hf.excel.repairs import with_linked_values
    from tinyslm_hf.excel.prompt import build_messages, clean_answer
    from tinyslm_hf.modelio import load_model_and_tokenizer
    from tinyslm_hf.tokenization import stop_token_ids

    model, tok = load_model_and_tokenizer(base_dir)
    examples = list(generate("validation", 3, seed=5))
    requests = [(ex.table, ex.request, ex.show_samples) for ex in examples]
    got = predict_formulas(model, tok, requests, candidates=3, max_new_tokens=12, batch_size=1)  # no padding
    for ex, answer in zip(examples, got):
        ids = tok.apply_chat_template(build_messages(ex.table, ex.request, samples=ex.show_samples),
                                      add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
        beams = model.generate(input_ids=ids, max_new_tokens=12, num_beams=3, num_return_sequences=3,
                               do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=stop_token_ids(tok))
        texts = [clean_answer(tok.decode(b[ids.shape[1]:], skip_special_tokens=True)) for b in beams]
        assert answer == pick_candidate(with_linked_values(texts, ex.table, ex.request), ex.table, ex.request)
    constrained = predict_formulas(model, tok, requests, candidates=3, max_new_tokens=12, constrained=True)
    assert len(constrained) == 3 and all(isinstance(a, str) for a in constrained)
    with pytest.raises(ValueError, match="candidates must be >= 1"):
        predict_formulas(model, tok, requests, candidates=0)


def _wide_table():
    from tinyslm_hf.excel.table import table_from_json

    headers = ["Ticket", "Resident", "Street Address", "Material", "Weight (kg)", "Arrived By", "Notes", "Inspector",
               "Drop-off Date"]
    rows = [[f"RC-{3000 + i}", f"Resident Number {i}", f"{i} Long Winding Road, Upper Hamlet", "Plastic" if i % 2
             else "Glass", 2.5 * i, "Cargo bike with a trailer", "Left by the side gate, lid cracked", "Inspector Z",
             f"2024-03-{10 + i:02d}"] for i in range(1, 7)]
    return table_from_json({"headers": headers, "rows": rows})


def test_a_wide_table_loses_sample_values_before_the_request_headers_or_links():
    from tinyslm_hf.excel.prompt import build_messages, fitted_messages

    table, request = _wide_table(), "total weight of plastic"

    def count(messages):
        return len(messages[0]["content"])

    def content(**kw):
        return build_messages(table, request, **kw)[0]["content"]

    full, bare = content(), content(samples=False)
    named = fitted_messages(table, request, True, count, len(full) - 1)[0]["content"]
    assert fitted_messages(table, request, True, count, len(full))[0]["content"] == full
    assert "E = Weight (kg) (number: 2.5)" in named and "D = Material (category: Plastic, Glass)" in named
    assert "\nG = Notes\n" in named and "Cargo bike" not in named  # unnamed columns lose their samples first
    assert fitted_messages(table, request, True, count, len(named) - 1)[0]["content"] == bare
    for text in (full, named, bare):
        assert text.count("Request: total weight of plastic\nLinks:") == 1 and "I = Drop-off Date" in text
    with pytest.raises(ValueError, match=f"a prompt of {len(bare)} tokens .* 9 headers"):
        fitted_messages(table, request, True, count, len(bare) - 1)


def test_decoding_fits_a_wide_table_into_the_context_and_leaves_room_for_the_answer(base_dir):
    from tinyslm_hf.excel.evaluate import _prompt, predict_formulas
    from tinyslm_hf.excel.prompt import prompt_limit
    from tinyslm_hf.modelio import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(base_dir)
    context = model.config.max_position_embeddings
    table, request = _wide_table(), "total weight of plastic"

    def tokens(text):
        return len(tok(text, add_special_tokens=False, verbose=False)["input_ids"])

    whole = _prompt(tok, table, request, True, None)
    assert tokens(whole) > context  # shown whole, it cannot be decoded at all
    fitted = _prompt(tok, table, request, True, context)
    assert tokens(fitted) <= prompt_limit(context) and request in fitted
    (answer,) = predict_formulas(model, tok, [(table, request, True)], max_new_tokens=8, constrained=True)
    assert isinstance(answer, str)
    assert _prompt(tok, table, request, False, None) == _prompt(tok, table, request, True, 20)  # nothing fits: bare
    model.config.max_position_embeddings = 40
    try:
        with pytest.raises(ValueError, match="does not fit the model's context of 40 even without sample values"):
            predict_formulas(model, tok, [(table, request, True)], max_new_tokens=8)
    finally:
        model.config.max_position_embeddings = context


def test_constraint_appends_token_text_exactly_as_decoding_the_whole_answer(excel_tokenizer, examples):
    from tinyslm_hf.excel.constrained import FormulaLogitsProcessor

    processor = FormulaLogitsProcessor(excel_tokenizer, stop_ids=[], sources=None)
    tokens = excel_tokenizer("".join(ex.formula for ex in examples[:12]) + " é€ naïve", add_special_tokens=False)
    ids = tokens["input_ids"]
    for cut in range(1, len(ids)):
        generated = ids[:cut - 1]
        text = excel_tokenizer.decode(generated, skip_special_tokens=True)
        assert processor._extend(text, generated, ids[cut - 1]) == excel_tokenizer.decode(ids[:cut])


def test_constrained_beams_see_their_own_request_and_table(base_dir, monkeypatch):
    from tinyslm_hf.excel import constrained
    from tinyslm_hf.excel.evaluate import predict_formulas
    from tinyslm_hf.modelio import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(base_dir)
    checked: list[bool] = []

    class Checking(constrained.FormulaLogitsProcessor):
        """Checks, at every step, that each row's copy targets are those of the prompt in that row."""

        def __init__(self, tokenizer, stop_ids, top_k=20, sources=None, keep=None, widths=None):
            super().__init__(tokenizer, stop_ids, top_k, sources, keep, widths)
            self.requests = [s[0] for s in sources]

        def __call__(self, input_ids, scores):
            if self.prompt_len is None:
                self.prompt_len = input_ids.shape[1]
            assert input_ids.shape[0] == len(self.requests)
            for row in range(input_ids.shape[0]):
                prompt = self.tokenizer.decode(input_ids[row, :self.prompt_len], skip_special_tokens=True)
                checked.append(f"Request: {self.requests[row]}\n" in prompt)
            return super().__call__(input_ids, scores)

    monkeypatch.setattr(constrained, "FormulaLogitsProcessor", Checking)
    examples = list(generate("validation", 3, seed=11))
    requests = [(ex.table, ex.request, ex.show_samples) for ex in examples]
    answers = predict_formulas(model, tok, requests, candidates=2, max_new_tokens=6, constrained=True, batch_size=3)
    assert len(answers) == 3 and checked and all(checked)


def test_the_model_reads_the_rewritten_request_and_copies_from_the_original(base_dir, monkeypatch):
    from tinyslm_hf.excel import constrained
    from tinyslm_hf.excel.evaluate import predict_formulas
    from tinyslm_hf.modelio import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(base_dir)
    seen: list[tuple[str, str]] = []

    class Recording(constrained.FormulaLogitsProcessor):
        def __init__(self, tokenizer, stop_ids, top_k=20, sources=None, keep=None, widths=None):
            super().__init__(tokenizer, stop_ids, top_k, sources, keep, widths)
            self.sources = sources

        def __call__(self, input_ids, scores):
            if self.prompt_len is None:
                self.prompt_len = input_ids.shape[1]
                for row in range(input_ids.shape[0]):
                    prompt = self.tokenizer.decode(input_ids[row, :self.prompt_len], skip_special_tokens=True)
                    seen.append((prompt, self.sources[row][0]))
            return super().__call__(input_ids, scores)

    monkeypatch.setattr(constrained, "FormulaLogitsProcessor", Recording)
    ex = next(generate("validation", 1, seed=4))
    predict_formulas(model, tok, [(ex.table, ex.request, True)], max_new_tokens=4, constrained=True,
                     rewrite=lambda request, table: request + " rewritten")
    (prompt, copied_from), = seen
    assert f"Request: {ex.request} rewritten\n" in prompt and copied_from == ex.request


def test_ask_batch_and_eval_rewrite_when_asked(base_dir, tmp_path, monkeypatch):
    import tinyslm_hf.excel.ask as ask_module
    from tinyslm_hf.excel.evaluate import evaluate_model
    from tinyslm_hf.excel.synonyms import RequestRewriter
    from tinyslm_hf.modelio import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(base_dir)
    rewrites = []
    real = ask_module.predict_formulas
    monkeypatch.setattr(ask_module, "predict_formulas",
                        lambda *a, **k: rewrites.append(k["rewrite"]) or real(*a, **{**k, "max_new_tokens": 2}))
    ask_module.ask(model, tok, "total sales", {"A": "Sales"}, (2, 9), synonyms=True)
    batch = tmp_path / "in.jsonl"
    batch.write_text(json.dumps({"id": 1, "table": {"headers": ["Sales"], "rows": [[1]]}, "request": "total sales"}))
    ask_module.answer_batch(model, tok, batch, tmp_path / "out.jsonl", synonyms=True)
    ask_module.ask(model, tok, "total sales", {"A": "Sales"}, (2, 9))
    assert [type(r) for r in rewrites] == [RequestRewriter, RequestRewriter, type(None)]
    ex = next(e for e in generate("test", 200, seed=0) if "capital letters" in e.request)
    record = evaluate_model(model, tok, [ex], synonyms=True, max_new_tokens=2)["records"][0]
    assert "uppercase" in record["model_request"] and record["request"] == ex.request


def test_constrained_beams_give_the_same_answers_when_every_allowed_token_is_checked(base_dir, monkeypatch):
    from tinyslm_hf.excel import constrained
    from tinyslm_hf.excel.evaluate import predict_formulas
    from tinyslm_hf.modelio import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(base_dir)
    examples = list(generate("validation", 4, seed=12))
    requests = [(ex.table, ex.request, ex.show_samples) for ex in examples]
    for k in (1, 3):
        limited = predict_formulas(model, tok, requests, candidates=k, max_new_tokens=10, constrained=True)
        with monkeypatch.context() as patch:
            class Unlimited(constrained.FormulaLogitsProcessor):
                def __init__(self, tokenizer, stop_ids, top_k=20, sources=None, keep=None, widths=None):
                    super().__init__(tokenizer, stop_ids, top_k, sources, keep=None, widths=widths)

            patch.setattr(constrained, "FormulaLogitsProcessor", Unlimited)
            unlimited = predict_formulas(model, tok, requests, candidates=k, max_new_tokens=10, constrained=True)
        assert limited == unlimited, k  # `keep` only skips tokens the search could never pick


def test_excel_train_speaks_the_main_trainers_flag_names():
    import argparse

    from tinyslm_hf.commands import excel

    parser = argparse.ArgumentParser()
    excel.add_arguments(parser)
    args = parser.parse_args(["train", "--max-steps", "5", "--learning-rate", "1e-3", "--num-hidden-layers", "2"])
    assert (args.out, args.max_steps, args.learning_rate, args.num_hidden_layers) == ("runs/excel", 5, 1e-3, 2)
    old = parser.parse_args(["train", "--out", "m", "--steps", "5", "--lr", "1e-3", "--layers", "2"])
    assert (old.out, old.max_steps, old.learning_rate, old.num_hidden_layers) == ("m", 5, 1e-3, 2)


def test_excel_train_holds_a_time_budget(tmp_path, capsys):
    """--max-minutes sizes the run from timed steps and stops the training loop at the deadline (the summary's
    steps are what ran, not the recipe's 7000)."""
    data = tmp_path / "data"
    assert main(["excel", "generate-data", "--out", str(data), "--n-train", "40", "--n-validation", "4",
                 "--n-test", "4", "--seed", "2"]) == 0
    model = tmp_path / "model"
    started = time.monotonic()
    assert main(["excel", "train", "--out", str(model), "--data", str(data), "--max-minutes", "0.1",
                 "--batch-size", "4", "--hidden-size", "32", "--layers", "1", "--vocab-size", "400"]) == 0
    summary = json.loads((model / "excel_train.json").read_text())
    assert 1 <= summary["steps"] < 7000
    assert time.monotonic() - started < 60
    assert main(["excel", "train", "--out", str(tmp_path / "m2"), "--max-minutes", "1", "--max-steps", "5"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["excel", "train", "--out", str(tmp_path / "m3"), "--data", str(data), "--breadth", "0.5"]) == 2
    assert "--breadth shapes generated data" in capsys.readouterr().err and not (tmp_path / "m3").exists()


def test_excel_train_steps_with_the_optimizer_asked_for(base_dir, tmp_path):
    """The summary names the optimizer class that stepped (inside Accelerate's wrapper), not the flag."""
    assert json.loads((base_dir / "excel_train.json").read_text())["optimizer"] == "MuonWithAdamW"
    summary = train_excel(ExcelTrainConfig(out_dir=str(tmp_path / "muon"), n_train=48, max_steps=3,
                                           optimizer="adamw", lr_schedule="cosine", **TINY))
    assert summary["optimizer"] == "AdamW" and summary["config"]["lr_schedule"] == "cosine"
    with pytest.raises(ValueError, match="optimizer"):
        train_excel(ExcelTrainConfig(out_dir=str(tmp_path / "bad"), n_train=8, max_steps=1, optimizer="sgd", **TINY))
    assert not (tmp_path / "bad").exists()


def test_several_readings_are_all_decoded_and_pooled_by_the_models_score(base_dir, monkeypatch):
    """A rewrite with several readings: every reading is decoded (each from its own prompt, each copying from the
    request as written) and the answers are pooled by log-probability, so the best-scored one that runs wins."""
    from tinyslm_hf.excel import evaluate
    from tinyslm_hf.modelio import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(base_dir)
    ex = next(generate("validation", 1, seed=4))
    first, second = ex.request + " one", ex.request + " two"
    real = evaluate._decode
    calls = []

    def fake(model, tokenizer, rows, **kw):
        calls.append([(reading, written) for _, reading, _, written in rows])
        return [{first: [("=1+", -0.1), ("=2", -3.0)], second: [("=3", -1.0)]}[reading] for _, reading, _, _ in rows]

    monkeypatch.setattr(evaluate, "_decode", fake)
    answer, = evaluate.predict_formulas(model, tok, [(ex.table, ex.request, True)],
                                        rewrite=lambda request, table: [first, second])
    assert calls == [[(first, ex.request), (second, ex.request)]]
    assert answer == "=3"  # "=1+" scores best but does not run; "=3" outscores "=2"
    monkeypatch.setattr(evaluate, "_decode", real)
    # Real decoding: one reading twice is the same answer as that reading once (pooling keeps the best score).
    one = evaluate.predict_formulas(model, tok, [(ex.table, ex.request, True)], max_new_tokens=8,
                                    rewrite=lambda request, table: request)
    twice = evaluate.predict_formulas(model, tok, [(ex.table, ex.request, True)], max_new_tokens=8,
                                      rewrite=lambda request, table: [request, request])
    assert one == twice


@pytest.mark.parametrize("constrained", [False, True])
def test_greedy_answer_scores_are_the_models_own_log_probabilities(base_dir, constrained):
    """Pooling readings ranks answers by the model's mean log-probability: under the constraint too (which keeps one
    token per greedy step, so scores taken after it would all be 0)."""
    from tinyslm_hf.excel import evaluate
    from tinyslm_hf.excel.prompt import build_messages
    from tinyslm_hf.modelio import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(base_dir)
    ex = next(generate("validation", 1, seed=4))
    (answer,) = evaluate._decode(model, tok, [(ex.table, ex.request, True, ex.request)], batch_size=1,
                                 max_new_tokens=6, constrained=constrained, top_k=20, copy_strings=True, candidates=1)
    text, logprob = answer[0]
    prompt = tok.apply_chat_template(build_messages(ex.table, ex.request, samples=True), tokenize=False,
                                     add_generation_prompt=True)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=6, do_sample=False,
                         eos_token_id=evaluate._stop_ids(tok), pad_token_id=tok.pad_token_id,
                         logits_processor=evaluate.LogitsProcessorList(
                             [evaluate_constraint(tok, ex)] if constrained else []))
    ids = out[0].tolist()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    steps = torch.log_softmax(logits[len(prompt_ids) - 1:-1], -1)
    answer_ids = ids[len(prompt_ids):]
    expected = steps.gather(-1, torch.tensor(answer_ids)[:, None]).mean().item()
    assert logprob == pytest.approx(expected, abs=1e-4) and logprob < 0


def evaluate_constraint(tok, ex):
    from tinyslm_hf.excel.constrained import FormulaLogitsProcessor, reference_width
    from tinyslm_hf.excel.evaluate import _stop_ids, copy_sources

    return FormulaLogitsProcessor(tok, _stop_ids(tok), 20, [copy_sources(ex.table, ex.request)], 1,
                                  [reference_width(ex.table, ex.request)])


def test_if_formulas_take_the_labels_the_request_gives():
    """`=IF(H9>5,"Above","chase")` has the condition right and labels made up from request words: its copy with the
    request's labels wins; a higher beam that already shows them stays first; formulas that are not an IF showing
    text get no copy and are not held to the labels."""
    from tinyslm_hf.excel.ranking import if_arguments, pick_candidate
    from tinyslm_hf.excel.repairs import with_request_labels
    from tinyslm_hf.excel.linking import request_labels
    from tinyslm_hf.excel.table import CATEGORY, NUMBER, Column, Table

    table = Table("t", [Column("A", "Loan", NUMBER, [1, 2, 3]), Column("B", "Late Fee", NUMBER, [2, 7, 0])])
    request = 'In row 3, show "chase up" if the late fee is above 5, otherwise "ok"'
    labels = request_labels(request)
    made_up, right = '=IF(B3>5,"Above","chase")', '=IF(B3>5,"chase up","ok")'
    assert with_request_labels([made_up], labels) == [made_up, right]
    assert pick_candidate(with_request_labels([made_up], labels), table, request) == right
    assert pick_candidate([made_up, right], table, request) == right  # a lower beam with the labels wins too
    other = '=IF(5<B3,"chase up","ok")'  # right too: the first of equals stays first
    assert pick_candidate(with_request_labels([other, made_up], labels), table, request) == other  # no copy ahead
    assert with_request_labels(['=IF(B3>5,"x")', '=IF(B3>5,"a","b",B2:B4,">10")'], labels) == [
        '=IF(B3>5,"x")', right, '=IF(B3>5,"a","b",B2:B4,">10")']  # IF takes three arguments; copies kept once
    for alone in ('=IF(B3="",B2,"none")', "=SUM(B2:B4)", '=IFERROR(B3,"x")', '=IF(B3>5,"a","b")+1'):
        assert with_request_labels([alone], labels) == [alone], alone
    assert with_request_labels([made_up], None) == [made_up]
    assert if_arguments('=IF(AND(A2>1,B2="a,b"),"y","n")') == ['AND(A2>1,B2="a,b")', '"y"', '"n"']
    assert if_arguments('=IF (B3>5,"a","b")') == ["B3>5", '"a"', '"b"'] and if_arguments("=IFERROR(B3,1)") is None
    # a request that states its condition the other way round: a right IF is not held to the order of its labels
    flipped = 'In row 3, say "ok" if the late fee is 5 or less, otherwise "chase up"'
    assert pick_candidate(with_request_labels([right], request_labels(flipped)), table, flipped) == right
    # two quoted criteria values are not labels: an IF beam gets no copy that would quote them both
    cities = Table("t", [Column("A", "City", CATEGORY, ["Leeds", "York", "Hull"]), Column("B", "Fee", NUMBER, [1, 2, 3])])
    counted = 'count fees where city is "Leeds" or "York"'
    beams = ['=IF(A2="Leeds","x","y")', '=COUNTIF(A2:A4,"Leeds")+COUNTIF(A2:A4,"York")']
    assert pick_candidate(with_request_labels(beams, request_labels(counted)), cities, counted) == beams[1]


def test_a_record_asked_for_by_its_key_alone_is_looked_up_not_reshaped():
    """"pH of WS-2" names a record by its key and asks for no function: a beam that wraps the record's pH cell in
    UPPER (the model's habit for a bare question) is followed by the lookup of that key, which wins; a beam that
    already looks it up stays first; a request that asks for a reshaping (`characters`, `ranking`, one typo) or
    names its row keeps the reshaping function."""
    from tinyslm_hf.excel.ranking import pick_candidate, reshapings_asked
    from tinyslm_hf.excel.repairs import with_record_lookups
    from tinyslm_hf.excel.table import NUMBER, TEXT, Column, Table

    table = Table("t", [Column("A", "Sample", TEXT, ["WS-1", "WS-2", "WS-3"]),
                        Column("B", "Site", TEXT, ["Upper Creek", "Mill Pond", "Weir"]),
                        Column("C", "pH", NUMBER, [7.1, 6.4, 8.0])])
    request = "pH of WS-2"
    lookup = '=INDEX(C2:C4,MATCH("WS-2",A2:A4,0))'
    assert with_record_lookups(["=UPPER(C3)"], table, request) == ["=UPPER(C3)", lookup]
    assert pick_candidate(with_record_lookups(["=UPPER(C3)"], table, request), table, request) == lookup
    # a column the request names by header is looked up too: the Site column, not the key the beam reshaped
    assert with_record_lookups(["=TRIM(A3)"], table, "site of WS-2") == [
        "=TRIM(A3)", '=INDEX(B2:B4,MATCH("WS-2",A2:A4,0))']
    assert pick_candidate(with_record_lookups(["=RANK.EQ(C3,C2:C4)"], table, request), table, request) == lookup
    first = '=VLOOKUP("WS-2",A2:C4,3,FALSE)'
    assert pick_candidate(with_record_lookups([first, "=UPPER(C3)"], table, request), table, request) == first
    for asked in ("how many characters in the site of WS-2", "ranking of WS-2 by pH", "site of WS-2 in uppercse"):
        assert reshapings_asked(asked), asked
    for beam in ("=LEN(B3)", "=RANK.EQ(C3,C2:C4)", "=UPPER(B3)"):  # asked: kept against a later lookup
        asked = {"=LEN(B3)": "how many characters in the site of WS-2", "=RANK.EQ(C3,C2:C4)": "ranking of WS-2 by pH",
                 "=UPPER(B3)": "site of WS-2 in uppercse"}[beam]
        assert pick_candidate([beam, '=INDEX(B2:B4,MATCH("WS-2",A2:A4,0))'], table, asked) == beam, beam
    ranked = "ranking of WS-2 by pH"  # asked: no lookup ahead of a lower beam that ranks the right cell
    assert with_record_lookups(["=RANK.EQ(A3,C2:C4)"], table, ranked) == ["=RANK.EQ(A3,C2:C4)"]
    # the record's column named by header must be used, or be served by the record's cell of another named column
    assert pick_candidate(["=TRIM(A3)", "=TRIM(B3)"], table, "strip blanks from the site for Mill Pond") == "=TRIM(B3)"
    assert pick_candidate(["=RANK.EQ(A3,C2:C4)", "=RANK.EQ(C3,C2:C4)"], table,
                          "WS-2's pH rank among all samples") == "=RANK.EQ(C3,C2:C4)"
    by_row = "length of the site in row 3"
    assert with_record_lookups(["=LEN(B3)"], table, by_row) == ["=LEN(B3)"]
    assert with_record_lookups(["=UPPER(C3)"], table, "pH of WS-1") == ["=UPPER(C3)"]  # not that record's row
    assert with_record_lookups(["=SUM(C2:C4)"], table, request) == ["=SUM(C2:C4)"]


def test_a_criterion_on_the_wrong_column_moves_to_the_column_holding_its_value():
    """`=COUNTIF(C2:C4,"suite")` tests a room name against the rates: its copy on the Room column (with the value as
    the cell writes it) wins; a criterion put on the column the formula aggregates swaps the two ranges; a criterion
    that already holds a value named in its column, or a formula testing every named column already, gets no copy."""
    from tinyslm_hf.excel.ranking import pick_candidate
    from tinyslm_hf.excel.repairs import with_criteria_columns
    from tinyslm_hf.excel.table import CATEGORY, NUMBER, Column, Table

    table = Table("t", [Column("A", "Room", CATEGORY, ["Suite", "Double", "Suite"]),
                        Column("B", "Channel", CATEGORY, ["OTA", "Direct", "Direct"]),
                        Column("C", "Rate", NUMBER, [300, 120, 280])])
    request = "number of suite bookings"
    wrong, right = '=COUNTIF(C2:C4,"suite")', '=COUNTIF(A2:A4,"Suite")'
    assert with_criteria_columns([wrong], table, request) == [wrong, right]
    assert pick_candidate(with_criteria_columns([wrong], table, request), table, request) == right
    swapped = '=MAXIFS(A2:A4,C2:C4,"suite")'
    assert with_criteria_columns([swapped], table, "priciest suite rate") == [swapped, '=MAXIFS(C2:C4,A2:A4,"Suite")']
    both = 'suite rates booked direct'
    # the aggregated column stays when the criterion on it moves
    assert with_criteria_columns(['=SUMIFS(C2:C4,A2:A4,"Suite",C2:C4,"x")'], table, both)[1:] == [
        '=SUMIFS(C2:C4,A2:A4,"Suite",B2:B4,"Direct")']
    # moved copies come after every candidate: a lower beam meeting as many checks stays ahead of them
    lower = '=COUNTIFS(A2:A4,"suite")'
    assert with_criteria_columns([wrong, lower], table, request) == [wrong, lower, right]
    assert pick_candidate(with_criteria_columns([wrong, lower], table, request), table, request) == lower
    assert with_criteria_columns(['=COUNTIF($C$2:$C$4,"suite")'], table, request)[1:] == ['=COUNTIF($A$2:$A$4,"Suite")']
    assert with_criteria_columns(['=SUMIFS(C2:C4,B2:B4,"x")'], table, both) == [
        '=SUMIFS(C2:C4,B2:B4,"x")']  # Direct is named in B: filled in there (with_linked_values), not moved away
    for kept in (right, '=COUNTIF(A2:A4,"<>Suite")', '=COUNTIF(C2:C4,">100")', "=SUM(C2:C4)"):
        assert with_criteria_columns([kept], table, request) == [kept], kept
    assert with_criteria_columns(['=COUNTIFS(A2:A4,"Suite",B2:B4,"x")'], table, both) == [
        '=COUNTIFS(A2:A4,"Suite",B2:B4,"x")']  # B has Direct named: with_linked_values' job, not a move


def test_the_one_comparison_a_request_states_replaces_a_garbled_one():
    """`=IF(B3>145,...)` for "over 14": its copy testing the stated comparison wins; so does a criterion with the
    wrong date or operator. A formula already testing it, one with two comparisons, or a request stating two,
    gets no copy."""
    from tinyslm_hf.excel.ranking import pick_candidate
    from tinyslm_hf.excel.repairs import with_stated_comparison
    from tinyslm_hf.excel.table import DATE, NUMBER, Column, Table

    table = Table("t", [Column("A", "Out", DATE, ["2024-01-05", "2024-03-01", "2024-05-09"]),
                        Column("B", "Days", NUMBER, [3, 20, 9])])
    request = 'row 3: say "late" if kept over 14 days, otherwise "on time"'
    garbled, right = '=IF(B3>145,"late","on time")', '=IF(B3>14,"late","on time")'
    assert with_stated_comparison([garbled], request) == [garbled, right]
    assert pick_candidate(with_stated_comparison([garbled], request), table, request) == right
    dated = "loans out on or after march 6 2024"
    assert with_stated_comparison(['=COUNTIF(A2:A4,">"&DATE(2024,6,6))'], dated)[1:] == [
        '=COUNTIF(A2:A4,">="&DATE(2024,3,6))']
    assert with_stated_comparison(['=COUNTIF(B2:B4,"<=4")'], "loans kept fewer than 4 days")[1:] == [
        '=COUNTIF(B2:B4,"<4")']
    assert with_stated_comparison(['=COUNTIF(B2:B4,">"&3)'], "5 or more days")[1:] == ['=COUNTIF(B2:B4,">=5")']
    flipped = '=IF(B3<=14,"on time","late")'  # right, written the other way round: not pushed down by its copy
    assert pick_candidate(with_stated_comparison([flipped], request), table, request) == flipped
    assert pick_candidate([flipped, right], table, request) == flipped
    unswapped = '=IF(B3<=14,"late","on time")'  # the other way round with the labels in order: wrong
    assert pick_candidate(with_stated_comparison([unswapped], request), table, request) == right
    unlabelled = "row 3: 1 if kept over 14 days, otherwise 0"  # no labels read: the IF must test it as stated
    copies = with_stated_comparison(["=IF(B3<=14,1,0)"], unlabelled)
    assert pick_candidate(copies, table, unlabelled) == "=IF(B3>14,1,0)"
    assert with_stated_comparison(['=IF(A3+B3>15,"a","b")'], request) == ['=IF(A3+B3>15,"a","b")']
    for alone, said in ((right, request), ('=IF(AND(B3>1,B3<9),"a","b")', request),
                        ('=COUNTIF(B2:B4,">"&3+1)', "over 14 days"), ('=IF(B3>3*2,"a","b")', request),
                        ('=COUNTIF(B2:B4,">1")', "over 5 and under 9 days"), ("=SUM(B2:B4)", request),
                        ('=IF(B3="x>5","a","b")', request)):
        assert with_stated_comparison([alone], said) == [alone], alone


def test_a_column_of_text_is_never_summed():
    """`=SUMPRODUCT(A2:A4,C2:C4)` over names runs (text counts as 0) but is never what was asked: the ranking puts
    a formula that sums, averages or takes the max of a text column with the ones that give an error; criteria
    ranges, COUNT-like functions, comparisons inside SUMPRODUCT and date columns are not held to it."""
    from tinyslm_hf.excel.ranking import pick_candidate, sums_numbers
    from tinyslm_hf.excel.table import CATEGORY, DATE, NUMBER, TEXT, Column, Table

    table = Table("t", [Column("A", "Volunteer", TEXT, ["Ann Lee", "Bo Li", "Cy Ng"]),
                        Column("B", "Team", CATEGORY, ["Food", "Events", "Food"]),
                        Column("C", "Hours", NUMBER, [3, 5, 8]),
                        Column("D", "Joined", DATE, ["2024-01-05", "2024-03-01", "2024-05-09"])])
    for text_summed in ("=SUMPRODUCT(A2:A4,C2:C4)", "=MAX(A2:A4)", '=MAXIFS(B2:B4,C2:C4,">3")',
                        '=SUMIF(C2:C4,">3",B2:B4)', '=AVERAGEIFS(A2:A4,B2:B4,"Food")', "=LARGE(B2:B4,2)"):
        assert not sums_numbers(text_summed, table), text_summed
    for fine in ('=SUMIF(B2:B4,"Food",C2:C4)', '=MAXIFS(C2:C4,B2:B4,"Food")', "=COUNTA(A2:A4)", "=MAX(D2:D4)",
                 '=SUMPRODUCT((B2:B4="Food")*C2:C4)', '=COUNTIF(A2:A4,"Bo Li")', "=LARGE(C2:C4,2)",
                 '=IF(SUM(C2:C4)>5,"a","b")'):
        assert sums_numbers(fine, table), fine
    assert pick_candidate(["=SUMPRODUCT(A2:A4,C2:C4)", "=SUM(C2:C4)"], table, "total volunteer hours") == "=SUM(C2:C4)"
    # its repair: the text columns dropped, when number columns remain; `repaired` applies it with the others
    from tinyslm_hf.excel.repairs import repaired, with_text_dropped

    assert "=SUM(C2:C4)" in repaired(["=SUMPRODUCT(A2:A4,C2:C4)"], table, "total hours", "total hours")

    assert with_text_dropped(["=SUMPRODUCT(A2:A4,C2:C4)"], table) == ["=SUMPRODUCT(A2:A4,C2:C4)", "=SUM(C2:C4)"]
    assert with_text_dropped(["=MAX(B2:B4,C2:C4,D2:D4)"], table)[1:] == ["=MAX(C2:C4,D2:D4)"]
    for alone in ("=MAX(A2:A4)", "=SUM(C2:C4)", "=SUMPRODUCT(C2:C4,C2:C4)", '=SUMPRODUCT((B2:B4="Food")*C2:C4)',
                  '=SUMIF(B2:B4,"Food",C2:C4)'):
        assert with_text_dropped([alone], table) == [alone], alone
