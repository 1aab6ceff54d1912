from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from rag.answering.prompts import Turn, citations_for, grounded_messages, retrieval_query
from rag.domain import Chunk, Hit


def _hit(doc_id: str, text: str, score: float) -> Hit:
    chunk = Chunk("t", doc_id, "h", 0, text, f"Title {doc_id}", f"src/{doc_id}")
    return Hit(chunk, score)


def test_follow_up_retrieval_query_includes_the_earlier_user_turn() -> None:
    turns = [
        Turn("user", "Tell me about the Helm chart"),
        Turn("assistant", "It deploys..."),
        Turn("user", "How do I upgrade it?"),
    ]
    assert retrieval_query(turns, history_turns=1) == "Tell me about the Helm chart\nHow do I upgrade it?"
    assert retrieval_query(turns, history_turns=0) == "How do I upgrade it?"


def test_prompt_numbers_sources_and_keeps_the_conversation() -> None:
    turns = [Turn("system", "Be brief."), Turn("user", "q1"), Turn("assistant", "a1"), Turn("user", "q2")]
    hits = [_hit("a", "alpha text", 0.9), _hit("b", "beta text", 0.5)]
    messages = grounded_messages(turns, hits)
    assert isinstance(messages[0], SystemMessage) and "Be brief." in messages[0].text
    assert [type(m) for m in messages[1:]] == [HumanMessage, AIMessage, HumanMessage]
    final = messages[-1].text
    key = final.split('key="', 1)[1].split('"', 1)[0]
    quoted = [
        f'Source [{n}]:\n<source key="{key}">\n{text}\n</source key="{key}">'
        for n, text in ((1, "alpha text"), (2, "beta text"))
    ]
    assert "\n\n".join(quoted) in final
    assert final.endswith("Question: q2")


def test_citations_are_numbered_and_excerpts_bounded() -> None:
    cites = citations_for([_hit("a", "x" * 50, 0.9), _hit("b", "short", 0.1)], excerpt_chars=10)
    assert [c.index for c in cites] == [1, 2]
    assert len(cites[0].excerpt) == 10 and cites[1].excerpt == "short"
    assert cites[0].source == "src/a"


def test_loop_detector_stops_repeated_sentences_only() -> None:
    from rag.llm.stop_conditions import is_looping

    loop = "Run helm install. The cluster will be created with helm. The cluster will be created with helm. The"
    assert is_looping(loop)
    assert not is_looping("Run helm install. The cluster will be created with helm. Then open the API.")
    assert not is_looping("Yes. Yes. Yes. ")  # short sentences may repeat legitimately
