"""Evaluation harnesses on the `rag` pipeline: BEIR dataset readers (beir.py), retrieval and answer metrics, the
runs (retrieval_eval.py, answers_eval.py) and their typed results (results.py), the CI quality gate (gate.py),
reports (report.py), and the eval collections' cache (eval_index.py, eval_records.py, eval_cache.py).
"""
