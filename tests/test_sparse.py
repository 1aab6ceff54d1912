from rag.embedding.sparse import Bm25Encoder, Bm25Tokenizer, term_id


def test_tokenizer_drops_stop_words_and_stems() -> None:
    assert Bm25Tokenizer()("The Deployments are running") == ["deploy", "run"]


def test_term_ids_are_stable_31_bit() -> None:
    # Fixed value: ids must not change across processes or releases, or stored vectors stop matching queries.
    assert term_id("deploy") == 316755131
    assert 0 <= term_id("deploy") < 2**31
    assert term_id("deploy") != term_id("helm")


def test_document_weights_saturate_and_normalize_by_length() -> None:
    enc = Bm25Encoder(k1=1.2, b=0.75, avg_len=4)
    once, thrice = enc.encode_documents(["helm chart", "helm helm helm chart"])
    w1 = dict(zip(once.indices, once.values, strict=True))[term_id("helm")]
    w3 = dict(zip(thrice.indices, thrice.values, strict=True))[term_id("helm")]
    assert w1 < w3 < 2.2  # more occurrences weigh more, but never past k1 + 1


def test_query_has_unit_weights_per_distinct_term() -> None:
    q = Bm25Encoder().encode_query("helm Helm install")
    assert sorted(q.indices) == sorted({term_id("helm"), term_id("instal")})
    assert q.values == [1.0, 1.0]


def test_query_of_stop_words_is_empty() -> None:
    assert Bm25Encoder().encode_query("what is the").indices == []
