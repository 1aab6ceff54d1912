"""Evaluation harnesses: BEIR dataset readers, retrieval and answer metrics, reports (built on the `rag` pipeline).

Empty until the evaluation issue lands; it is a package now so the install and the layout are final.
"""
